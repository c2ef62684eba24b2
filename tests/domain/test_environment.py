"""The env file is read by bash with ``set -a; . tapisjob.env``: every value must come back exactly."""

import subprocess

import pytest

from dlws_flow.domain.environment import job_environment, render_env_file
from dlws_flow.domain.records import KeyValuePair

HOSTILE = ["plain", "it's", "$(touch /tmp/dlws-canary)", "`id`", "a;b", 'q"uote', "back\\slash", "new\nline",
           "$HOME", "x" * 5000, "", " spaced  out "]


@pytest.mark.parametrize("value", HOSTILE)
def test_values_round_trip_through_bash(tmp_path, value):
    env_file = tmp_path / "tapisjob.env"
    env_file.write_text(render_env_file({"V": value}))
    out = subprocess.run(["bash", "-c", f"set -a; . {env_file}; set +a; printf '%s' \"$V\""], capture_output=True,
                         check=False)
    assert out.stdout.decode() == value
    assert not (tmp_path / "dlws-canary").exists()


def test_tapis_variables_then_user_variables():
    env = job_environment({"JobUUID": "u", "ExecSystemOutputDir": "/rel/out"}, {"ExecSystemOutputDir": "/abs/out"},
                          [KeyValuePair(key="MINE", value="1")], {"DLWS_REST_API": "http://x"})
    assert env == {"_tapisJobUUID": "u", "_tapisExecSystemOutputDir": "/abs/out", "DLWS_REST_API": "http://x", "MINE": "1"}
