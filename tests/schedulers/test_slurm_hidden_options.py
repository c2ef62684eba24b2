"""A scheduler profile's ``hiddenOptions`` in the Slurm script: MEM leaves out ``--mem``, PARTITION ``--partition``."""

from dataclasses import replace

import pytest

from dlws_flow.adapters.schedulers.base import ScriptRequest
from dlws_flow.adapters.schedulers.slurm import SlurmScheduler

REQUEST = ScriptRequest(job_uuid="u-1", job_name="hidden", exec_dir="/home/u/jobs/u-1",
                        stdout_path="/home/u/jobs/u-1/output/tapisjob.out", stderr_path="/home/u/jobs/u-1/output/tapisjob.out",
                        container_command="singularity run img.sif", env_file="/home/u/jobs/u-1/tapisjob.env",
                        memory_mb=2048, queue="normal", scheduler_options=["--account", "A-1"],
                        setup_lines=["module load tacc-apptainer"])


def sbatch_lines(request: ScriptRequest) -> list[str]:
    return [line for line in SlurmScheduler().build_script(request).splitlines() if line.startswith("#SBATCH")]


@pytest.mark.parametrize(("hidden", "absent", "present"), [
    (frozenset(), set(), {"#SBATCH --mem=2048M", "#SBATCH --partition=normal"}),
    (frozenset({"MEM"}), {"--mem"}, {"#SBATCH --partition=normal"}),
    (frozenset({"PARTITION"}), {"--partition"}, {"#SBATCH --mem=2048M"}),
    (frozenset({"MEM", "PARTITION"}), {"--mem", "--partition"}, set()),
])
def test_hidden_options_leave_their_lines_out(hidden, absent, present):
    lines = sbatch_lines(replace(REQUEST, hidden_options=hidden))
    assert present <= set(lines)
    assert not [line for line in lines if line.split()[1].split("=")[0] in absent]
    # Everything else stays, in the same order.
    others = [line for line in sbatch_lines(REQUEST) if line.split()[1].split("=")[0] not in absent]
    assert lines == others


def test_a_hidden_option_leaves_the_users_own_options_alone():
    """Only the lines built from the job's memoryMB and logical queue are hidden; options the request
    writes itself in schedulerOptions still reach Slurm."""
    request = replace(REQUEST, hidden_options=frozenset({"MEM"}), scheduler_options=["--mem=1G"])
    assert "#SBATCH --mem=1G" in sbatch_lines(request)
    assert "#SBATCH --mem=2048M" not in sbatch_lines(request)


def test_setup_lines_stay_with_hidden_options():
    script = SlurmScheduler().build_script(replace(REQUEST, hidden_options=frozenset({"MEM", "PARTITION"})))
    assert script.index("module load tacc-apptainer") < script.index("set -a") < script.index("singularity run")
