"""A parameter sweep run by the real worker on the SSH test host: every element reaches FINISHED with its own
outputs, written with its own values, and its own history; the sweep's counts follow them."""

from __future__ import annotations

import pytest

from tests.integration.conftest import script_args, wait_status

pytestmark = [pytest.mark.ssh, pytest.mark.once]


def test_each_element_runs_with_its_own_values_and_outputs(sif_app):
    from dlws_flow import download_job_output, get_job_history, get_sweep, submit_sweep

    sweep = submit_sweep({"name": "sweep-it", "combine": "zip",
                          "job": {"appId": sif_app["id"], "appVersion": sif_app["version"],
                                  "parameterSet": script_args('echo "n=$N word=$WORD index=$DLWS_SWEEP_INDEX"')},
                          "parameters": {"N": {"start": 1, "stop": 4}, "WORD": ["a b", "it's", "$(id)"]}})
    assert sweep["size"] == 3
    for element in sweep["jobs"]:
        done = wait_status(element["uuid"], {"FINISHED", "FAILED", "CANCELLED"}, timeout=120)
        assert done["status"] == "FINISHED", done["lastMessage"]
        assert "FINISHED" in [e["newStatus"] for e in get_job_history(element["uuid"])]
    # The last line: Apptainer may say something of its own first (gocryptfs missing on the test host).
    outputs = [download_job_output(e["uuid"], "tapisjob.out").decode().strip().splitlines()[-1] for e in sweep["jobs"]]
    assert outputs == ["n=1 word=a b index=0", "n=2 word=it's index=1", "n=3 word=$(id) index=2"]
    assert get_sweep(sweep["id"])["statusCounts"] == {"FINISHED": 3}
