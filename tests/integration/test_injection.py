"""An injection corpus thrown at every user-supplied string that may reach a host, through the real HTTP API,
the real worker and the real SSH/Slurm/Apptainer test host.

Every hostile string would, if any shell on the host ever interpreted it, create a canary file
(``cd; touch CANARY_<run>_<tag>``: no slash, so a literal directory of that name can never look like a
canary). The contract checked here:

- what the app is *meant* to receive (appArgs words, envVariables values, the job name) reaches it
  byte for byte, and nothing else runs;
- what names a host path (the job's directories, fileInputs, Files API paths, output paths) is refused
  with a 4xx, or stays literally under the system's rootDir; ``..``, absolute escapes and symlinks that
  point out are refused;
- every refusal is a 4xx with a JSON ``{"status": "error", "message": ...}``, never a 500 and never a
  stack trace; a refused submission creates no job;
- at the end no ``CANARY_<run>*`` file exists anywhere on the host and no ``escape_<run>*`` file exists
  outside this run's own directory.
"""

from __future__ import annotations

import io
import shlex
import uuid
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.integration.conftest import api_user, tapis_client, wait_status

pytestmark = [pytest.mark.ssh]

RUN = uuid.uuid4().hex[:8]
HOME = "/home/hpcuser"
ROOT = f"{HOME}/inj-{RUN}"  # the VM and Slurm systems' rootDir; everything this test creates is below it
STORE = f"{ROOT}/store"  # rootDir of a storage system (tapis:// inputs, archiving to another system)
ENDED = {"FINISHED", "FAILED", "CANCELLED"}
USER = "injector"


def canary(tag: str) -> str:
    return f"cd; touch CANARY_{RUN}_{tag}"


#: The corpus. Each value is hostile if a shell ever reads it; ``dotdot`` is hostile if used as a path.
CORPUS: dict[str, str] = {
    "semicolon": f"x; {canary('semi')}",
    "subshell": f"$({canary('sub')})",
    "backtick": f"`{canary('bt')}`",
    "squote": f"'; {canary('sq')}; '",
    "dquote": f'"; {canary("dq")}; "',
    "pipe": f"x | {canary('pipe')} & {canary('amp')} > escape_{RUN}_redir",
    "newline": f"a\n{canary('nl')}",
    "dotdot": f"../../../../tmp/escape_{RUN}",
    "long": (f"$({canary('long')});`{canary('longbt')}`;" * 2000)[:100_000],
    "nul": f"a\x00{canary('nul')}",
}
SHELL_ONLY = ("semicolon", "subshell", "backtick", "squote", "dquote", "pipe")  # no '/', no control characters
NOT_NUL = [k for k in CORPUS if k != "nul"]

#: Every response this module received, checked once more at the end (no 500, no traceback anywhere).
RESPONSES: list[requests.Response] = []


class Api:
    """Plain HTTP against the running API with one user's token; every answer is recorded and checked."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"X-Tapis-Token": token}

    def call(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        response = requests.request(method, self.base_url + path, headers={**self.headers, **(headers or {})},
                                    timeout=120, **kwargs)
        RESPONSES.append(response)
        assert response.status_code < 500, (method, path[:300], response.status_code, response.text[:2000])
        assert "Traceback" not in response.text, response.text[:2000]
        return response

    def ok(self, method: str, path: str, **kwargs):
        response = self.call(method, path, **kwargs)
        assert 200 <= response.status_code < 300, (method, path[:300], response.status_code, response.text[:2000])
        return response.json()["result"] if "json" in response.headers.get("content-type", "") else response.content

    def refused(self, method: str, path: str, *, expect: tuple[int, ...] = (), **kwargs) -> str:
        """The call must fail with a 4xx and a Tapis error body; returns the message."""
        response = self.call(method, path, **kwargs)
        what = (method, path[:300], response.status_code, response.text[:1000])
        assert 400 <= response.status_code < 500, what
        if expect:
            assert response.status_code in expect, what
        body = response.json()
        assert body["status"] == "error" and isinstance(body["message"], str) and body["message"], what
        return body["message"]

    def submit(self, body: dict) -> dict:
        return self.ok("POST", "/v3/jobs/submit", json=body)

    def job(self, job_uuid: str) -> dict:
        return self.ok("GET", f"/v3/jobs/{job_uuid}")

    def output(self, job_uuid: str, path: str) -> bytes:
        return self.ok("GET", f"/v3/jobs/{job_uuid}/output/download/{url_path(path)}")


def url_path(path: str) -> str:
    """Percent-encode a path for a URL, dots too: HTTP clients drop literal ``..`` segments before sending."""
    return quote(path, safe="/").replace(".", "%2E")


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(api_server) -> Api:
    client = tapis_client(api_server, USER, api_user(USER))
    return Api(api_server, client.get_access_jwt())


@pytest.fixture(scope="module")
def host(host_shell):
    """This run's folders on the host: a symlink to /etc in the root and in the store, and files whose
    names are the corpus (for tapis:// and file:// inputs)."""
    host_shell(f"mkdir -p {STORE}/in && ln -s /etc {ROOT}/link-out && ln -s /etc {STORE}/link-out "
               f"&& echo private > {ROOT}/private.txt && ln -s {ROOT}/private.txt {STORE}/sneaky.txt")
    for key in SHELL_ONLY:
        with host_shell.sftp.open(f"{STORE}/in/{CORPUS[key]}", "wb") as handle:
            handle.write(f"content of {key}\n".encode())
    yield host_shell
    host_shell(f"rm -rf {shlex.quote(ROOT)}")


@pytest.fixture(scope="module")
def systems(api, hosts, host) -> dict[str, str]:
    """Systems and an app owned by the test user, created through the API."""
    ids = {"vm": f"inj-vm-{RUN}", "store": f"inj-store-{RUN}", "hpc": f"inj-hpc-{RUN}", "app": f"inj-app-{RUN}"}
    common = {"systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
              "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS",
              "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()},
              "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}
    api.ok("POST", "/v3/systems", json={**common, "id": ids["vm"], "rootDir": ROOT, "jobWorkingDir": "/work",
                                        "canExec": True})
    api.ok("POST", "/v3/systems", json={**common, "id": ids["store"], "rootDir": STORE, "canExec": False})
    api.ok("POST", "/v3/systems", json={**common, "id": ids["hpc"], "rootDir": ROOT, "jobWorkingDir": "/hpcwork",
                                        "canExec": True, "canRunBatch": True, "batchScheduler": "SLURM",
                                        "batchDefaultLogicalQueue": "dev",
                                        "batchLogicalQueues": [{"name": "dev", "hpcQueueName": "debug"}]})
    api.ok("POST", "/v3/apps", json={"id": ids["app"], "version": "1.0", "runtime": "SINGULARITY",
                                     "containerImage": hosts["DLWS_TEST_SIF"],
                                     "jobAttributes": {"execSystemId": ids["vm"], "maxMinutes": 5}})
    return ids


def request(systems: dict[str, str], name: str = "inj", **fields) -> dict:
    return {"name": name, "appId": systems["app"], "appVersion": "1.0", **fields}


def app_args(script: str, *words: str, raw: tuple[str, ...] = ()) -> list[dict]:
    """``sh -c SCRIPT inj WORD...``: each of ``words`` quoted into one argv word, each of ``raw`` sent as is."""
    return ([{"name": "shell", "arg": "sh -c"}, {"name": "script", "arg": shlex.quote(script)}, {"arg": "inj"}]
            + [{"arg": shlex.quote(w)} for w in words] + [{"arg": r} for r in raw])


#: Writes the app's argv, the INJ_* variables and the job name, NUL-separated, into its output dir.
ENV_KEYS = [f"INJ_{k.upper()}" for k in NOT_NUL]
REPORT = ('o="$_tapisExecSystemOutputDir"; for a in "$@"; do printf "%s\\0" "$a"; done > "$o/args.bin"; '
          "printf '%s\\0' " + " ".join(f'"${k}"' for k in ENV_KEYS) + ' > "$o/env.bin"; '
          'printf "%s" "$_tapisJobName" > "$o/name.txt"')
RAW_ARGS = (*(CORPUS[k] for k in NOT_NUL), "${JobName}", '"${JobName}"')  # macros: substituted, then split
QUOTED_ARGS = tuple(CORPUS[k] for k in NOT_NUL)


def expected_argv(name: str) -> list[str]:
    raws = [raw.replace("${JobName}", name) for raw in RAW_ARGS]
    return [*QUOTED_ARGS, *[w for raw in raws for w in shlex.split(raw)]]  # "inj" is $0, not in "$@"


def expected_env() -> list[str]:
    return [CORPUS[k] for k in NOT_NUL]


@pytest.fixture(scope="module")
def jobs(api, systems, http_files):
    """Every accepted hostile job, submitted at once and run to a terminal state by the real worker."""
    folder, base_url = http_files
    (folder / f"web-{RUN}.txt").write_text("from the web\n")
    env = [{"key": key, "value": CORPUS[k]} for key, k in zip(ENV_KEYS, NOT_NUL, strict=True)]
    store = systems["store"]
    submitted = {
        # The app must see every appArg word and every env value exactly; the name and the description are data.
        "argv": api.submit(request(systems, name=CORPUS["semicolon"], description=CORPUS["long"],
                                   tags=[CORPUS["subshell"], CORPUS["newline"]],
                                   parameterSet={"appArgs": app_args(REPORT, *QUOTED_ARGS, raw=RAW_ARGS),
                                                 "envVariables": env})),
        # Hostile (but relative, '..'-free) directories stay literal and under rootDir; hostile inputs are
        # copied under literal names; an absolute targetPath lands inside the input dir.
        "dirs": api.submit(request(
            systems, name=CORPUS["subshell"],
            execSystemExecDir=f"/work/{CORPUS['semicolon']}/${{JobUUID}}",
            execSystemInputDir=f"${{ExecSystemExecDir}}/{CORPUS['subshell']}",
            execSystemOutputDir=f"${{ExecSystemExecDir}}/{CORPUS['backtick']}",
            archiveSystemDir=f"/archive/{CORPUS['squote']}/{CORPUS['dquote']}/${{JobUUID}}",
            fileInputs=[
                {"name": "t1", "sourceUrl": f"tapis://{store}/in/{quote(CORPUS['semicolon'])}", "targetPath": CORPUS["pipe"]},
                {"name": "t2", "sourceUrl": f"tapis://{store}/in/{quote(CORPUS['subshell'])}"},
                {"name": "f1", "sourceUrl": f"file://{STORE}/in/{quote(CORPUS['backtick'])}", "targetPath": CORPUS["squote"]},
                {"name": "f2", "sourceUrl": f"{STORE}/in/{CORPUS['dquote']}"},
                {"name": "h1", "sourceUrl": f"{base_url}/web-{RUN}.txt?q=$(cd;touch%20CANARY_{RUN}_q)",
                 "targetPath": f"/tmp/escape_{RUN}_abs"},
            ],
            parameterSet={"appArgs": app_args('cp -R "$_tapisExecSystemInputDir/." "$_tapisExecSystemOutputDir/"')})),
        # containerArgs are quoted words for ``singularity run``: the container fails to start, nothing else runs.
        "container": api.submit(request(systems, name=CORPUS["backtick"], parameterSet={
            "appArgs": app_args("true"),
            "containerArgs": [{"arg": shlex.quote(CORPUS["subshell"])}, {"arg": CORPUS["semicolon"]}]})),
        # HOST_EVAL to a directory outside rootDir: refused on the host, before anything is created there.
        "host_eval": api.submit(request(systems, name=CORPUS["squote"],
                                        execSystemExecDir=f"HOST_EVAL($HOME)/escape_{RUN}_he",
                                        parameterSet={"appArgs": app_args("true")})),
        # Symlinks in the outputs, archived to another system: never followed.
        "symlinks": api.submit(request(systems, name=CORPUS["dquote"], archiveSystemId=store,
                                       parameterSet={"appArgs": app_args(
                                           'o="$_tapisExecSystemOutputDir"; ln -s /etc/passwd "$o/passwd.txt"; '
                                           f'ln -s /etc "$o/link-out"; ln -s {ROOT}/private.txt "$o/private.txt"; '
                                           'echo ok > "$o/ok.txt"')})),
        # Slurm: the job name goes into #SBATCH --job-name, option words into #SBATCH lines, never a shell.
        "slurm": api.submit(request(systems, name=CORPUS["subshell"], execSystemId=systems["hpc"], parameterSet={
            "appArgs": app_args(REPORT, *QUOTED_ARGS, raw=RAW_ARGS), "envVariables": env,
            "schedulerOptions": [{"arg": f"--job-name=$(cd;touch$IFS$HOME/CANARY_{RUN}_sbatch)"}]})),
    }
    done = {}
    for key, job in submitted.items():
        done[key] = wait_status(job["uuid"], ENDED, timeout=120)
        done[key]["submitted"] = job
    return done


# --- jobs that are accepted -----------------------------------------------------------------------


def test_app_receives_args_env_and_name_verbatim(api, jobs):
    job = jobs["argv"]
    assert job["status"] == "FINISHED", job["lastMessage"]
    record = api.job(job["uuid"])
    assert record["name"] == CORPUS["semicolon"] and record["description"] == CORPUS["long"]
    assert record["tags"] == [CORPUS["subshell"], CORPUS["newline"]]
    argv = api.output(job["uuid"], "args.bin").split(b"\0")[:-1]
    assert argv == [w.encode() for w in expected_argv(CORPUS["semicolon"])]
    assert argv[-1] == CORPUS["semicolon"].encode()  # "${JobName}" in double quotes: one word
    assert api.output(job["uuid"], "env.bin").split(b"\0")[:-1] == [v.encode() for v in expected_env()]
    assert api.output(job["uuid"], "name.txt") == CORPUS["semicolon"].encode()


def test_slurm_job_receives_args_and_env_verbatim(api, jobs, host_shell):
    job = jobs["slurm"]
    assert job["status"] == "FINISHED", job["lastMessage"]
    argv = api.output(job["uuid"], "args.bin").split(b"\0")[:-1]
    assert argv == [w.encode() for w in expected_argv(CORPUS["subshell"])]
    assert api.output(job["uuid"], "env.bin").split(b"\0")[:-1] == [v.encode() for v in expected_env()]
    assert api.output(job["uuid"], "name.txt") == CORPUS["subshell"].encode()
    with host_shell.sftp.open(f"{ROOT}/hpcwork/jobs/{job['uuid']}/tapisjob.sh") as handle:
        script = handle.read().decode()
    assert f"#SBATCH --job-name={'_' * 2}cd__touch_CANARY_{RUN}_sub_" in script  # sanitised
    assert f"#SBATCH --job-name=$(cd;touch$IFS$HOME/CANARY_{RUN}_sbatch)" in script  # sbatch never evaluates it


def test_hostile_directories_and_inputs_stay_literal_under_root(api, jobs, host_shell):
    job = jobs["dirs"]
    assert job["status"] == "FINISHED", job["lastMessage"]
    uuid_ = job["uuid"]
    exec_dir = f"/work/{CORPUS['semicolon']}/{uuid_}"
    assert job["execSystemExecDir"] == exec_dir
    assert job["execSystemInputDir"] == f"{exec_dir}/{CORPUS['subshell']}"
    assert job["execSystemOutputDir"] == f"{exec_dir}/{CORPUS['backtick']}"
    assert job["archiveSystemDir"] == f"/archive/{CORPUS['squote']}/{CORPUS['dquote']}/{uuid_}"
    sftp = host_shell.sftp
    inputs = sorted(sftp.listdir(f"{ROOT}{exec_dir}/{CORPUS['subshell']}"))
    assert inputs == sorted([CORPUS["pipe"], CORPUS["subshell"], CORPUS["squote"], CORPUS["dquote"], "tmp"])
    assert sftp.listdir(f"{ROOT}{exec_dir}/{CORPUS['subshell']}/tmp") == [f"escape_{RUN}_abs"]
    with sftp.open(f"{ROOT}{exec_dir}/{CORPUS['subshell']}/{CORPUS['pipe']}") as handle:
        assert handle.read() == b"content of semicolon\n"
    archived = f"{ROOT}/archive/{CORPUS['squote']}/{CORPUS['dquote']}/{uuid_}"
    assert CORPUS["squote"] in sftp.listdir(archived)
    assert api.output(uuid_, CORPUS["squote"]) == b"content of backtick\n"
    assert api.output(uuid_, f"tmp/escape_{RUN}_abs") == b"from the web\n"


def test_container_args_are_words_not_commands(jobs, host_shell):
    job = jobs["container"]
    # ``singularity run '$(cd; touch ...)' 'x;' 'cd;' ...``: it takes the first word for an image and fails.
    assert job["status"] == "FAILED", job["lastMessage"]
    with host_shell.sftp.open(f"{ROOT}/work/jobs/{job['uuid']}/tapisjob.sh") as handle:
        script = handle.read().decode()
    words = [CORPUS["subshell"], *shlex.split(CORPUS["semicolon"])]
    assert "singularity run " + " ".join(shlex.quote(w) for w in words) + " " in script


def test_host_eval_outside_root_is_refused_on_the_host(jobs, host_shell):
    job = jobs["host_eval"]
    assert job["status"] == "FAILED" and "outside" in job["lastMessage"], job["lastMessage"]


def test_output_symlinks_are_never_followed(api, jobs, host_shell):
    job = jobs["symlinks"]
    assert job["status"] == "FINISHED", job["lastMessage"]
    uuid_ = job["uuid"]
    assert api.output(uuid_, "ok.txt") == b"ok\n"
    for path in ("passwd.txt", "link-out/passwd", "private.txt", "../../../../etc/passwd", "link-out"):
        api.refused("GET", f"/v3/jobs/{uuid_}/output/download/{url_path(path)}")
    for path in ("%2e%2e/%2e%2e/%2E%2E/etc/passwd", "a/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"):
        api.refused("GET", f"/v3/jobs/{uuid_}/output/download/{path}")
        api.refused("GET", f"/v3/jobs/{uuid_}/output/list/{path}")
    api.refused("GET", f"/v3/jobs/{uuid_}/output/download//etc/passwd", expect=(404,))  # rootDir-relative
    archive = zipfile.ZipFile(io.BytesIO(api.output(uuid_, "")))
    for name in archive.namelist():
        content = archive.read(name)
        assert b"root:" not in content and content != b"private\n", name
    # On the archive system the links are links or absent: never copies of what they point to.
    archive_dir = f"{STORE}/jobs/{uuid_}/archive"
    for name in ("passwd.txt", "private.txt"):
        completed = host_shell(f"[ -e {archive_dir}/{name} ] && ! [ -L {archive_dir}/{name} ] && echo COPIED || echo ok")
        assert completed.strip() == "ok", name


# --- requests that are refused --------------------------------------------------------------------


def test_hostile_submissions_are_refused_with_a_message(api, systems):
    store = systems["store"]
    before = len(api.ok("GET", "/v3/jobs/list?limit=10000"))

    def refused(**fields):
        body = request(systems, **fields)
        return api.refused("POST", "/v3/jobs/submit", json=body, expect=(400,))

    for key in ("newline", "long", "nul"):
        refused(name=CORPUS[key])
    refused(description=CORPUS["nul"])
    refused(tags=[CORPUS["nul"]])
    refused(parameterSet={"appArgs": [{"arg": shlex.quote(CORPUS["nul"])}]})
    refused(parameterSet={"appArgs": [{"arg": CORPUS["nul"]}]})
    refused(parameterSet={"appArgs": [{"arg": "it's unbalanced"}]})
    refused(name=f"it's $({canary('name')})", parameterSet={"appArgs": [{"arg": "${JobName}"}]})  # once substituted
    refused(parameterSet={"appArgs": [{"arg": "${IFS}"}]})  # not a macro of ours
    refused(parameterSet={"containerArgs": [{"arg": CORPUS["nul"]}]})
    # Keys are names, not text: every corpus string, a trailing newline and a reserved prefix.
    for key in [*CORPUS.values(), "A\n", "A B", "A=B", "_tapisJobUUID", "1A", ""]:
        refused(parameterSet={"envVariables": [{"key": key, "value": "v"}]})
    refused(parameterSet={"envVariables": [{"key": "INJ", "value": CORPUS["nul"]}]})
    # Directories: '..' (plain, via macros, after HOST_EVAL), control characters, length.
    for field in ("execSystemExecDir", "execSystemInputDir", "execSystemOutputDir", "archiveSystemDir"):
        for value in (CORPUS["dotdot"], f"${{JobWorkingDir}}/../../../tmp/escape_{RUN}", "/work/a/../../..",
                      f"HOST_EVAL($HOME)/../../tmp/escape_{RUN}", CORPUS["newline"], CORPUS["nul"], CORPUS["long"]):
            refused(**{field: value})
    # Inputs: '..' in every form, control characters, length, unknown schemes; targetPath likewise.
    for url in (f"tapis://{store}/../../etc/passwd", f"tapis://{store}/in/%2e%2e/%2E%2E/%2e%2e/etc/passwd",
                f"file://{HOME}/../../etc/passwd", f"{HOME}/../../etc/passwd", f"tapis://{store}/{CORPUS['dotdot']}",
                f"tapis://{store}/{CORPUS['newline']}", f"tapis://{store}/{CORPUS['nul']}", "http://h/" + CORPUS["long"],
                CORPUS["subshell"], CORPUS["semicolon"], f"ftp://h/{CORPUS['semicolon']}", "http:///no-host",
                f"tapis://no-such-system-{RUN}/x"):
        message = api.refused("POST", "/v3/jobs/submit", expect=(400, 404),
                              json=request(systems, fileInputs=[{"name": "in", "sourceUrl": url}]))
        assert "Traceback" not in message
    for target in (CORPUS["dotdot"], "a/../../b", f"/{CORPUS['dotdot']}", CORPUS["newline"], CORPUS["nul"],
                   CORPUS["long"]):
        refused(fileInputs=[{"name": "in", "sourceUrl": f"tapis://{store}/in", "targetPath": target}])
    refused(parameterSet={"logConfig": {"stdoutFilename": "../../escape.out"}})
    refused(parameterSet={"logConfig": {"stdoutFilename": "a/b"}})
    refused(parameterSet={"archiveFilter": {"includes": [CORPUS["nul"]]}})
    # Slurm: a word #SBATCH cannot carry (space, quote, newline) is refused before anything is written.
    for word in (f"--comment={CORPUS['semicolon']}", f"--comment={CORPUS['squote']}", "--comment=a\n",
                 f"--comment={CORPUS['newline']}"):
        refused(execSystemId=systems["hpc"], parameterSet={"schedulerOptions": [{"arg": shlex.quote(word)}]})
    refused(execSystemId=systems["hpc"], execSystemOutputDir=f"/out/{CORPUS['semicolon']}")
    # The request body itself: not an object, not JSON, an unknown app.
    api.refused("POST", "/v3/jobs/submit", data="not json", headers={"Content-Type": "application/json"})
    api.refused("POST", "/v3/jobs/submit", json=[CORPUS["subshell"]])
    api.refused("POST", "/v3/jobs/submit", json={**request(systems), "appId": CORPUS["subshell"]}, expect=(400, 404))
    api.refused("GET", f"/v3/jobs/{quote(CORPUS['subshell'])}", expect=(404,))
    assert len(api.ok("GET", "/v3/jobs/list?limit=10000")) == before, "a refused submission created a job"


def test_hostile_system_and_app_records_are_refused(api, systems, hosts):
    base = {"systemType": "LINUX", "host": hosts["DLWS_TEST_SSH_HOST"], "effectiveUserId": "hpcuser",
            "rootDir": ROOT, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"]}
    for bad in ({"id": f"x{RUN}\n"}, {"id": CORPUS["semicolon"]}, {"id": f"ok-{RUN}", "host": "h\n"},
                {"id": f"ok-{RUN}", "host": CORPUS["subshell"]}, {"id": f"ok-{RUN}", "effectiveUserId": "hpcuser\n"},
                {"id": f"ok-{RUN}", "effectiveUserId": CORPUS["backtick"]}, {"id": f"ok-{RUN}", "rootDir": "relative"}):
        api.refused("POST", "/v3/systems", json={**base, **bad}, expect=(400,))
    api.refused("POST", "/v3/systems", json={**base, "id": f"ok-{RUN}", "description": CORPUS["nul"]}, expect=(400,))
    for bad in ({"id": f"a{RUN}\n"}, {"id": CORPUS["subshell"]}, {"id": f"ok-{RUN}", "version": "1\n"},
                {"id": f"ok-{RUN}", "containerImage": CORPUS["newline"]}, {"id": f"ok-{RUN}", "description": CORPUS["nul"]},
                {"id": f"ok-{RUN}", "jobAttributes": {"parameterSet": {"envVariables": [{"key": "A\n", "value": "x"}]}}}):
        api.refused("POST", "/v3/apps", json={"version": "1", "containerImage": "x.sif", **bad}, expect=(400,))
    # NUL in ids in URLs: refused or unknown, never a database error (PostgreSQL cannot hold NUL).
    for path in ("/v3/jobs/a%00b", "/v3/systems/a%00b", "/v3/apps/a%00b", "/v3/apps/a%00b/1",
                 "/v3/files/ops/a%00b/x", "/v3/jobs/a%00b/output/download/x", "/v3/jobs/list?orderBy=a%00b"):
        response = api.call("GET", path)
        if response.status_code >= 400:
            assert response.status_code in (400, 404) and response.json()["status"] == "error", response.text


# --- the Files API --------------------------------------------------------------------------------


def test_files_api_hostile_names_are_literal(api, systems, host_shell):
    vm = systems["vm"]
    for key in SHELL_ONLY:
        path = f"files/{CORPUS[key]}"
        api.ok("POST", f"/v3/files/ops/{vm}/{url_path(path)}", files={"file": ("upload.bin", key.encode())})
        assert api.ok("GET", f"/v3/files/content/{vm}/{url_path(path)}") == key.encode()
    api.ok("POST", f"/v3/files/ops/{vm}", json={"path": f"files/dir-{CORPUS['subshell']}"})
    listing = api.ok("GET", f"/v3/files/ops/{vm}/files")
    assert sorted(e["name"] for e in listing) == sorted([*(CORPUS[k] for k in SHELL_ONLY), f"dir-{CORPUS['subshell']}"])
    assert sorted(host_shell.sftp.listdir(f"{ROOT}/files")) == sorted(e["name"] for e in listing)
    for key in SHELL_ONLY:
        api.ok("DELETE", f"/v3/files/ops/{vm}/{url_path('files/' + CORPUS[key])}")
    assert host_shell.sftp.listdir(f"{ROOT}/files") == [f"dir-{CORPUS['subshell']}"]
    # Absolute paths are rootDir-relative: they land inside the root.
    api.ok("POST", f"/v3/files/ops/{vm}", json={"path": f"/tmp/escape_{RUN}_mkdir"})
    api.ok("POST", f"/v3/files/ops/{vm}//tmp/escape_{RUN}_up.txt", files={"file": ("upload.bin", b"inside")})
    assert sorted(host_shell.sftp.listdir(f"{ROOT}/tmp")) == [f"escape_{RUN}_mkdir", f"escape_{RUN}_up.txt"]


def test_files_api_escapes_are_refused(api, systems, host_shell):
    vm, store = systems["vm"], systems["store"]
    for path in (CORPUS["dotdot"], f"a/../../escape_{RUN}", "..", "../../etc", "a/../../../etc/passwd"):
        encoded = url_path(path)
        api.refused("GET", f"/v3/files/ops/{vm}/{encoded}")
        api.refused("GET", f"/v3/files/content/{vm}/{encoded}")
        api.refused("DELETE", f"/v3/files/ops/{vm}/{encoded}")
        api.refused("POST", f"/v3/files/ops/{vm}/{encoded}", files={"file": ("upload.bin", b"x")})
        api.refused("GET", f"/v3/files/permissions/{vm}/{encoded}")
    for path in (CORPUS["dotdot"], f"/../escape_{RUN}", CORPUS["newline"], CORPUS["nul"], CORPUS["long"], ""):
        api.refused("POST", f"/v3/files/ops/{vm}", json={"path": path}, expect=(400,))
    # (A newline in the URL path matches no route: 404.)
    for path in (CORPUS["newline"], "a%00b", "x" * 5000):
        encoded = path if "%" in path else url_path(path)
        api.refused("POST", f"/v3/files/ops/{vm}/{encoded}", files={"file": ("upload.bin", b"x")}, expect=(400, 404))
        api.refused("GET", f"/v3/files/ops/{vm}/{encoded}", expect=(400, 404))
    # Symlinks that point out of the root: /etc from both systems, and the VM root's private file from the store.
    for system, path in ((vm, "link-out"), (vm, "link-out/passwd"), (store, "link-out/passwd"), (store, "sneaky.txt")):
        api.refused("GET", f"/v3/files/ops/{system}/{path}", expect=(403,))
        api.refused("GET", f"/v3/files/content/{system}/{path}", expect=(403,))
    api.refused("POST", f"/v3/files/ops/{vm}/link-out/escape_{RUN}", files={"file": ("upload.bin", b"x")}, expect=(403,))
    api.refused("POST", f"/v3/files/ops/{vm}", json={"path": f"link-out/escape_{RUN}"}, expect=(403,))
    api.refused("DELETE", f"/v3/files/ops/{vm}/link-out/passwd", expect=(403,))
    api.refused("GET", f"/v3/files/content/{vm}/link-out?zip=true", expect=(403,))
    zipped = zipfile.ZipFile(io.BytesIO(api.ok("GET", f"/v3/files/content/{store}/?zip=true")))
    assert all(b"root:" not in zipped.read(n) and zipped.read(n) != b"private\n" for n in zipped.namelist())
    assert host_shell("test -f /etc/passwd && echo present").strip() == "present"


def test_hostile_inputs_through_symlinks_are_refused(api, systems):
    """A tapis:// input through a symlink that leaves the source system's rootDir fails the job on the host."""
    submitted = [api.submit(request(systems, fileInputs=[{"name": "in", "sourceUrl": f"tapis://{systems[s]}/{path}"}],
                                    parameterSet={"appArgs": app_args("cat \"$_tapisExecSystemInputDir\"/*")}))
                 for s, path in (("store", "link-out/passwd"), ("store", "sneaky.txt"), ("vm", "link-out/passwd"))]
    for job in submitted:
        done = wait_status(job["uuid"], ENDED, timeout=60)
        assert done["status"] == "FAILED" and "outside" in done["lastMessage"], done["lastMessage"]


# --- last: nothing ran, nothing escaped -----------------------------------------------------------


def test_no_canary_and_no_escape_anywhere(jobs, host_shell):
    found = host_shell(f"find / /tmp {HOME} -xdev \\( -name 'CANARY_{RUN}*' -o -name 'escape_{RUN}*' \\) "
                       f"-not -path '{ROOT}/*' 2>/dev/null; true")
    assert found.strip() == "", found
    for response in RESPONSES:
        assert response.status_code < 500 and "Traceback" not in response.text
        if response.status_code >= 400:
            body = response.json()
            assert body["status"] == "error" and body["message"]
