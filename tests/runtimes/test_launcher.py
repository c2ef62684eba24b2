"""Tapis' launch prefix (``isMpi``'s ``mpiCmd``, else ``cmdPrefix``): where each runtime puts it, quoted."""

from dlws_flow.adapters.registry import create
from dlws_flow.adapters.runtimes import LaunchRequest

LAUNCHER = ["mpirun", "-np", "4", "$(id)"]


def test_launcher_goes_before_the_runtime_command_word_by_word_quoted():
    request = LaunchRequest(image="/i.sif", env_file="/e", app_args=["-v"], launcher=LAUNCHER)
    assert create("runtime", "SINGULARITY").build_command(request) == "mpirun -np 4 '$(id)' singularity run /i.sif -v"
    assert create("runtime", "APPTAINER").build_command(request).startswith("mpirun -np 4 '$(id)' apptainer run ")


def test_launcher_goes_before_the_zip_program_not_its_unpacking():
    plain = create("runtime", "ZIP").build_command(LaunchRequest(image="/bin/app", env_file="/e", launcher=["time"]))
    assert plain == "( exec time /bin/app )"
    packed = create("runtime", "ZIP").build_command(LaunchRequest(image="app.zip", env_file="/e", launcher=["time"]))
    assert packed.startswith("( unzip ") and packed.endswith("&& exec time ./tapisjob_app.sh )")


def test_launcher_goes_before_docker_run():
    request = LaunchRequest(image="busybox", env_file="/e", job_uuid="u-1", exec_dir="/x", input_dir="/x",
                            output_dir="/x/o", launcher=["ibrun"])
    assert create("runtime", "DOCKER").build_command(request).startswith("ibrun docker run ")


def test_no_launcher_changes_nothing():
    assert create("runtime", "SINGULARITY").build_command(LaunchRequest(image="i", env_file="/e")) == "singularity run i"
