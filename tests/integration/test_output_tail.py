"""Following a job's output while it runs (ours): ``GET /v3/jobs/{uuid}/output/tail?offset=N`` through the API
and its file gateway, and ``dlws-flow jobs logs UUID --follow``, against a job on the SSH test host that writes,
waits to be released, and writes again."""

from __future__ import annotations

import subprocess
import threading
import uuid

import pytest
import requests

from tests.integration.conftest import api_user, dlws_flow_command, script_args, tapis_client, wait_for, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.once]
OWNER, STRANGER = "tail_owner", "tail_stranger"


@pytest.fixture(scope="module")
def owner_app(vm_system, sif_app):
    from dlws_flow import add_app, add_system

    system_id, app_id = f"tail-vm-{uuid.uuid4().hex[:6]}", f"tail-app-{uuid.uuid4().hex[:6]}"
    add_system({**vm_system, "id": system_id, "owner": OWNER}, replace=True)
    add_app({**sif_app, "id": app_id, "owner": OWNER, "jobAttributes": {"execSystemId": system_id, "maxMinutes": 5}},
            replace=True)
    return app_id


def test_the_output_is_followed_while_the_job_runs_then_to_its_end(api_server, owner_app, host_shell):
    from dlws_flow import download_job_output

    owner = tapis_client(api_server, OWNER, api_user(OWNER))
    stranger = tapis_client(api_server, STRANGER, api_user(STRANGER))
    release = f"/home/hpcuser/tail-release-{uuid.uuid4().hex[:8]}"
    job = owner.jobs.submitJob(name="tail-me", appId=owner_app, appVersion="1.0", parameterSet=script_args(
        f'echo "first line é"; while [ ! -e {release} ]; do sleep 0.2; done; echo "second line"'))
    url = f"{api_server}/v3/jobs/{job.uuid}/output/tail"
    headers = {"X-Tapis-Token": owner.get_access_jwt()}

    def tail(offset: int, **params) -> dict:
        response = requests.get(url, headers=headers, params={"offset": offset, **params}, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    last = {}

    def first_line_written() -> bool:
        response = requests.get(url, headers=headers, params={"offset": 0}, timeout=60)
        last["answer"] = response.text
        return response.status_code == 200 and "first line é" in response.json()["result"]["text"]

    try:
        wait_for(first_line_written, "the first line in the running job's output", timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the last answer: {last.get('answer')}") from None
    # The CLI follows the same output: it prints the first line while the job still runs.
    follower = subprocess.Popen(dlws_flow_command("jobs", "logs", job.uuid, "--follow"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(follower.stdout.readline, "")), daemon=True)
    reader.start()
    wait_for(lambda: "first line é\n" in printed, "the CLI's first line while the job runs", timeout=60)
    assert follower.poll() is None and "second line\n" not in printed
    early = tail(0)
    assert not early["ended"] and early["jobStatus"] == "RUNNING" and "second" not in early["text"]
    # One byte at a time still gives whole characters: the two bytes of "é" come together.
    pieces, offset = [], 0
    while offset < early["size"]:
        answer = tail(offset, limit=1)
        if answer["nextOffset"] == offset:  # the first byte of a two-byte character: nothing whole yet
            answer = tail(offset, limit=4)
        pieces.append(answer["text"])
        offset = answer["nextOffset"]
    assert "".join(pieces) == early["text"]

    host_shell(f"touch {release}")
    text, offset = early["text"], early["nextOffset"]
    while True:
        answer = tail(offset)
        text, offset = text + answer["text"], answer["nextOffset"]
        if answer["ended"] and offset >= answer["size"]:
            break
    assert wait_status(job.uuid, {"FINISHED", "FAILED", "CANCELLED"})["status"] == "FINISHED"
    final = download_job_output(job.uuid, "tapisjob.out").decode()
    assert text == final and final.endswith("first line é\nsecond line\n")

    # The CLI printed the rest as it came, and stopped by itself when the job ended.
    assert follower.wait(timeout=120) == 0, follower.stderr.read()
    reader.join(timeout=10)
    assert "".join(printed) == final
    stranger_headers = {"X-Tapis-Token": stranger.get_access_jwt()}
    assert requests.get(url, headers=stranger_headers, timeout=30).status_code == 404
    for params in ({"offset": -1}, {"path": "../../../etc/passwd"}, {"path": "."}, {"limit": 0}):
        response = requests.get(url, headers=headers, params=params, timeout=30)
        assert 400 <= response.status_code < 500 and response.json()["message"], (params, response.text)
