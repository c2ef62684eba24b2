import shlex

from dlws_flow.adapters.registry import create
from dlws_flow.adapters.runtimes import LaunchRequest
from dlws_flow.domain.archive_filter import select_outputs
from dlws_flow.domain.records import ArgSpec


def test_singularity_command_quotes_every_word():
    words = ArgSpec(arg="--image_file 'https://x/y z.jpg' $(rm -rf ~) ;reboot").words()
    command = create("runtime", "SINGULARITY").build_command(
        LaunchRequest(image="/img/busy box.sif", env_file="/e", app_args=words, container_args=["--cleanenv"]))
    assert command.startswith("singularity run --cleanenv '/img/busy box.sif' --image_file ")
    assert shlex.split(command)[4:] == ["--image_file", "https://x/y z.jpg", "$(rm", "-rf", "~)", ";reboot"]


def test_apptainer_and_zip():
    assert create("runtime", "APPTAINER").build_command(LaunchRequest(image="i.sif", env_file="/e")) == "apptainer run i.sif"
    zip_command = create("runtime", "ZIP").build_command(LaunchRequest(image="/bin/sh", env_file="/e", app_args=["-c", "echo $X"]))
    assert zip_command == "( exec /bin/sh -c 'echo $X' )"


def test_archive_filter_globs_and_regex():
    files = ["a.txt", "skip.txt", "deep/b.txt", "c.log"]
    assert select_outputs(files, ["*.txt"], ["skip*"]) == ["a.txt", "deep/b.txt"]
    assert select_outputs(files, [], []) == sorted(files)
    assert select_outputs(files, ["REGEX(^deep/)"], []) == ["deep/b.txt"]


def test_gpus_reach_the_container_runtimes():
    gpus = LaunchRequest(image="i.sif", env_file="/e", gpu_count=2, exec_dir="/x", input_dir="/x", output_dir="/x",
                         job_uuid="u-1", app_args=["nvidia-smi"])
    assert create("runtime", "SINGULARITY").build_command(gpus) == "singularity run --nv i.sif nvidia-smi"
    assert create("runtime", "APPTAINER").build_command(gpus).startswith("apptainer run --nv i.sif")
    docker = shlex.split(create("runtime", "DOCKER").build_command(gpus).split(" & trap")[0])
    assert docker[:7] == ["docker", "run", "--rm", "--name", "u-1", "--gpus", "2"]
    none = LaunchRequest(image="i.sif", env_file="/e", exec_dir="/x", input_dir="/x", output_dir="/x", job_uuid="u-1")
    assert "--nv" not in create("runtime", "SINGULARITY").build_command(none)
    assert "--gpus" not in create("runtime", "DOCKER").build_command(none)
