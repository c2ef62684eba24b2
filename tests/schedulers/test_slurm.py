"""The Slurm builder and parser, on text captured from the real test Slurm (22.05)."""

import pytest

from dlws_flow.adapters.schedulers.base import RemoteJob, RemoteState, ScriptRequest
from dlws_flow.adapters.schedulers.slurm import SlurmScheduler, split_profile
from dlws_flow.errors import ValidationError
from tests.schedulers.answers import answer

REQUEST = ScriptRequest(job_uuid="u-1", job_name="img classifier", exec_dir="/home/u/jobs/u-1",
                        stdout_path="/home/u/jobs/u-1/output/tapisjob.out", stderr_path="/home/u/jobs/u-1/output/tapisjob.out",
                        container_command="singularity run img.sif", env_file="/home/u/jobs/u-1/tapisjob.env",
                        node_count=2, cores_per_node=4, memory_mb=1024, max_minutes=90, queue="normal",
                        scheduler_options=["--tapis-profile", "tacc", "--account", "Frontera-Training"],
                        setup_lines=["module load tacc-apptainer"])


def test_batch_script():
    script = SlurmScheduler().build_script(REQUEST)
    for line in ["#SBATCH --job-name=img_classifier", "#SBATCH --comment=dlws-u-1", "#SBATCH --nodes=2",
                 "#SBATCH --ntasks-per-node=4", "#SBATCH --mem=1024M", "#SBATCH --time=01:30:00",
                 "#SBATCH --partition=normal", "#SBATCH --account Frontera-Training",
                 "#SBATCH --output=/home/u/jobs/u-1/output/tapisjob.out"]:
        assert line in script.splitlines()
    assert "tapis-profile" not in script
    assert script.index("module load") < script.index("set -a") < script.index("singularity run")


def test_profile_is_taken_out():
    assert split_profile(["--tapis-profile", "tacc", "-A", "x"]) == ("tacc", ["-A", "x"])
    assert split_profile(["--tapis-profile=p"]) == ("p", [])


def test_unsafe_option_words_refused():
    bad = ScriptRequest(**{**REQUEST.__dict__, "scheduler_options": ["--comment", "x\nrm -rf ~"]})
    with pytest.raises(ValidationError):
        SlurmScheduler().build_script(bad)


def test_parse_status():
    jobs = [RemoteJob("6", "/d6"), RemoteJob("7", "/d7"), RemoteJob("8", "/d8"), RemoteJob("9", "/d9"),
            RemoteJob("10", "/d10")]
    text = ("Q|6|FAILED|vm|NonZeroExitCode\nQ|7|RUNNING|vm|None\nQ|8|TIMEOUT|vm|TimeLimit\n"
            "A|9|COMPLETED|0:0|vm\nX|6|3\nX|9|0\n")
    statuses = SlurmScheduler().parse_status_output(answer(text), jobs)
    assert statuses["6"].state == RemoteState.DONE and statuses["6"].exit_code == 3
    assert statuses["7"].state == RemoteState.RUNNING and statuses["7"].node == "vm"
    assert statuses["8"].state == RemoteState.FAILED and "time limit" in statuses["8"].reason
    assert statuses["9"].state == RemoteState.DONE and statuses["9"].exit_code == 0
    assert "10" not in statuses



def test_gpus_become_a_gres_line_and_none_asked_none_written():
    script = SlurmScheduler().build_script(ScriptRequest(**{**REQUEST.__dict__, "gpu_count": 2}))
    assert "#SBATCH --gres=gpu:2\n" in script
    assert "--gres" not in SlurmScheduler().build_script(REQUEST)
