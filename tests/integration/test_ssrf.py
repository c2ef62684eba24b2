"""SSRF: http(s) inputs and webhooks reach only addresses the deployment allows (dlws_flow.adapters.staging.safe_http).

The deployment's worker (conftest.py) allows 127.0.0.1 for the other tests' local servers. This module starts
an API and a worker of its own with the default policy: nothing internal is allowed except, on the worker, a
"site data server" at 127.0.0.3 (``DLWS_FETCH_ALLOW=127.0.0.3``, as a site would open its own file server).
Its system's ``workerQueue`` sends the jobs to that worker, so every attack goes through the real API and is
refused by the real worker; a "secret" server on 127.0.0.1 records that no request ever reached it.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import uuid
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import (
    WORKER_ENV,
    _free_port,
    _start,
    api_user,
    script_args,
    stop_process,
    wait_for,
    wait_healthy,
    wait_status,
)

pytestmark = [pytest.mark.ssh]
ENDED = {"FINISHED", "FAILED", "CANCELLED"}
USER = "ssrf_user"
SITE = "127.0.0.3"  # the one internal address the module's worker allows
NOBODY = "127.0.0.2"  # allowed by no worker of this run


class Site:
    """A real HTTP server that records every request and answers from ``routes`` (path -> status, headers, body)."""

    def __init__(self, address: str, routes: dict[str, tuple[int, dict[str, str], bytes]] | None = None) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.routes = dict(routes or {})
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                site.requests.append((self.command, self.path, body.decode(errors="replace")))
                status, headers, content = site.routes.get(self.path, (200, {}, b"ok"))
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(content))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://{address}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def redirect(self, path: str, location: str) -> None:
        self.routes[path] = (302, {"Location": location}, b"")

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def secret():
    site = Site("127.0.0.1", {"/secret.txt": (200, {}, b"INTERNAL-SECRET\n")})
    yield site
    site.close()


@pytest.fixture(scope="module")
def site(secret):
    data = Site(SITE, {"/data.txt": (200, {}, b"site data\n")})
    data.redirect("/hop1", "/hop2")
    data.redirect("/hop2", f"{data.base}/data.txt")
    data.redirect("/to-secret", f"{secret.base}/secret.txt")
    data.redirect("/to-localhost", f"http://localhost:{secret.port}/secret.txt")
    data.redirect("/to-mapped", f"http://[::ffff:127.0.0.1]:{secret.port}/secret.txt")
    data.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    data.redirect("/loop", "/loop")
    data.redirect("/to-file", "file:///etc/passwd")
    yield data
    data.close()


@pytest.fixture(scope="module")
def deny_api(worker):
    """An API process of its own with the default policy (the deployment's may allow 127.0.0.1)."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = Path(os.environ["DLWS_DATA_DIR"]) / "api-ssrf.log"
    env = {**os.environ, "DLWS_API_BASE_URL": base_url, "DLWS_FETCH_ALLOW": "", "DLWS_FETCH_DENY": ""}
    proc = _start([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning"], env, log_path)
    try:
        wait_healthy(base_url, proc, log_path)
        password = api_user(USER)
        token = httpx.post(f"{base_url}/v3/oauth2/tokens", json={"username": USER, "password": password,
                                                                 "grant_type": "password"}).json()
        client = httpx.Client(base_url=base_url, timeout=30,
                              headers={"X-Tapis-Token": token["result"]["access_token"]["access_token"]})
        yield client
        client.close()
    finally:
        stop_process(proc, timeout=20)


@pytest.fixture(scope="module")
def ssrf_worker(worker):
    """A worker on a queue of its own that allows only the site data server; returns (queue, log path)."""
    queue = f"{os.environ['DLWS_QUEUE']}.ssrf-{uuid.uuid4().hex[:6]}"
    log_path = Path(os.environ["DLWS_DATA_DIR"]) / "worker-ssrf.log"
    env = {**os.environ, **WORKER_ENV, "DLWS_FETCH_ALLOW": SITE, "DLWS_FETCH_DENY": ""}
    proc = _start([sys.executable, "-m", "celery", "-A", "workers", "worker", "-l", "info", "-c", "2", "-Q", queue,
                   "-n", f"{queue}@%h"], env, log_path)
    yield queue, log_path
    stop_process(proc)


@pytest.fixture(scope="module")
def app_id(deny_api, ssrf_worker, hosts):
    from dlws_flow.services import apps, systems
    from dlws_flow.services.auth import get_user

    queue, _ = ssrf_worker
    principal = get_user(USER)
    token = uuid.uuid4().hex[:6]
    system_id, app_id = f"ssrf-vm-{token}", f"ssrf-app-{token}"
    systems.create(principal, {
        "id": system_id, "host": hosts["DLWS_TEST_SSH_HOST"], "port": int(hosts["DLWS_TEST_SSH_PORT"]),
        "effectiveUserId": hosts["DLWS_TEST_SSH_USER"], "defaultAuthnMethod": "PKI_KEYS", "rootDir": "/home/hpcuser",
        "jobWorkingDir": "/ssrf-work", "canExec": True, "hostKey": hosts["DLWS_TEST_SSH_HOST_KEY"], "workerQueue": queue,
        "authnCredential": {"privateKey": Path(hosts["DLWS_TEST_SSH_KEY"]).read_text()}})
    apps.create(principal, {"id": app_id, "version": "1.0", "runtime": "SINGULARITY", "containerImage": hosts["DLWS_TEST_SIF"],
                            "jobAttributes": {"execSystemId": system_id, "maxMinutes": 5}})
    return app_id


def submit(api: httpx.Client, app_id: str, name: str, script: str = "true", **request) -> str:
    response = api.post("/v3/jobs/submit", json={"name": name, "appId": app_id, "appVersion": "1.0",
                                                 "parameterSet": script_args(script), **request})
    assert response.status_code == 200, response.text
    return response.json()["result"]["uuid"]


def submit_input(api: httpx.Client, app_id: str, url: str) -> str:
    return submit(api, app_id, "ssrf-input", 'cat "$_tapisExecSystemInputDir/in.txt"',
                  fileInputs=[{"name": "in", "sourceUrl": url, "targetPath": "in.txt"}])


def test_inputs_at_internal_addresses_are_refused_before_any_connection(deny_api, app_id, secret, ssrf_worker):
    closed = _free_port()
    urls = {
        f"{secret.base}/secret.txt": "127.0.0.1",  # a port that answers
        f"http://127.0.0.1:{closed}/secret.txt": "127.0.0.1",  # a port that does not: the same answer
        f"{deny_api.base_url}/metrics": "127.0.0.1",  # the API's own metrics
        f"https://127.0.0.1:{secret.port}/secret.txt": "127.0.0.1",
        f"http://localhost:{secret.port}/secret.txt": "localhost",  # a name that resolves to loopback
        f"http://LocalHost:{secret.port}/secret.txt": "LocalHost",  # as written, not as resolved
        f"http://[::ffff:127.0.0.1]:{secret.port}/secret.txt": "[::ffff:127.0.0.1]",  # IPv4-mapped
        f"http://2130706433:{secret.port}/secret.txt": "2130706433",  # 127.0.0.1 as one number
        f"http://0x7f.1:{secret.port}/secret.txt": "0x7f.1",
        f"http://[::1]:{secret.port}/secret.txt": "[::1]",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/": "169.254.169.254",  # cloud metadata
        "http://[fd00:ec2::254]/latest/meta-data/": "[fd00:ec2::254]",
        "http://10.0.0.1/admin": "10.0.0.1", "http://192.168.1.1/": "192.168.1.1", "http://[fe80::1]/": "[fe80::1]",
    }
    jobs = {url: submit_input(deny_api, app_id, url) for url in urls}
    messages = {}
    for url, host in urls.items():
        done = wait_status(jobs[url], ENDED, timeout=120)
        assert done["status"] == "FAILED", (url, done["lastMessage"])
        assert done["lastMessage"] == f"stage_inputs failed: input {url}: address not allowed ({host})"
        messages[url] = done["lastMessage"]
    assert secret.requests == [], "a refused input reached the internal server"
    # What the user sees does not tell an open port from a closed one, or what the name resolved to.
    open_message = messages[f"{secret.base}/secret.txt"].replace(str(secret.port), "PORT")
    assert messages[f"http://127.0.0.1:{closed}/secret.txt"].replace(str(closed), "PORT") == open_message
    assert not any("refused" in m.lower() or "errno" in m.lower() or "loopback" in m for m in messages.values())
    # The operator's log says why.
    log_text = ssrf_worker[1].read_text()
    assert f"refused http://localhost:{secret.port}/secret.txt: 127.0.0.1 is loopback (resolved to 127.0.0.1" in log_text
    assert "169.254.169.254 is a cloud metadata address" in log_text


def test_every_redirect_hop_is_checked(deny_api, app_id, site, secret, host_shell):
    refused = {path: submit_input(deny_api, app_id, f"{site.base}{path}")
               for path in ("/to-secret", "/to-localhost", "/to-mapped", "/to-metadata")}
    allowed = submit_input(deny_api, app_id, f"{site.base}/hop1")  # two hops within the allowed server
    looping = submit_input(deny_api, app_id, f"{site.base}/loop")
    to_file = submit_input(deny_api, app_id, f"{site.base}/to-file")

    done = wait_status(allowed, ENDED, timeout=120)
    assert done["status"] == "FINISHED", done["lastMessage"]
    assert "site data" in host_shell(f"cat ~/ssrf-work/jobs/{allowed}/output/tapisjob.out")
    for path, job_uuid in refused.items():
        done = wait_status(job_uuid, ENDED, timeout=120)
        assert done["status"] == "FAILED"
        assert done["lastMessage"] == (f"stage_inputs failed: input {site.base}{path}: address not allowed "
                                       f"({SITE} redirected to an address that may not be fetched)")
    assert secret.requests == [], "a redirect led the worker to the internal server"
    assert ("GET", "/to-secret", "") in site.requests  # the allowed hop was fetched, the next one refused

    done = wait_status(looping, ENDED, timeout=120)
    assert done["lastMessage"] == f"stage_inputs failed: input {site.base}/loop: more than 10 redirects"
    assert sum(1 for _, path, _ in site.requests if path == "/loop") == 11
    done = wait_status(to_file, ENDED, timeout=120)
    assert done["lastMessage"] == (f"stage_inputs failed: input {site.base}/to-file: a redirect to a file URL; "
                                   "only http and https are followed")


def test_webhooks_to_internal_addresses_are_refused_when_subscribing(deny_api, app_id, secret):
    def job_count() -> int:
        return len(deny_api.get("/v3/jobs/list", params={"limit": 10000}).json()["result"])

    job_uuid = submit(deny_api, app_id, "ssrf-subscribe")
    for address, host in ((f"{secret.base}/hook", "127.0.0.1"), (f"http://[::ffff:127.0.0.1]:{secret.port}/hook",
                                                                 "[::ffff:127.0.0.1]"),
                          (f"http://0x7f.1:{secret.port}/hook", "0x7f.1"), ("http://169.254.169.254/", "169.254.169.254"),
                          ("https://[fd00:ec2::254]/", "[fd00:ec2::254]"), ("http://10.1.2.3:8080/", "10.1.2.3")):
        target = {"eventCategoryFilter": "ALL", "deliveryTargets": [{"deliveryMethod": "WEBHOOK", "deliveryAddress": address}]}
        response = deny_api.post(f"/v3/jobs/subscribe/{job_uuid}", json=target)
        assert response.status_code == 400, response.text
        assert response.json()["message"] == f"WEBHOOK deliveryAddress {address!r}: address not allowed ({host})"
        before = job_count()
        response = deny_api.post("/v3/jobs/submit", json={"name": "ssrf-sub", "appId": app_id, "appVersion": "1.0",
                                                          "subscriptions": [target]})
        assert response.status_code == 400 and "address not allowed" in response.json()["message"]
        assert job_count() == before, "a refused submission created a job"
    assert deny_api.get(f"/v3/jobs/subscribe/{job_uuid}").json()["result"] == []
    wait_status(job_uuid, ENDED, timeout=120)
    assert secret.requests == []


def test_a_stored_webhook_to_a_refused_address_fails_at_delivery_once(deny_api, app_id):
    """A subscription stored before this policy existed (or under a name that since resolves elsewhere):
    the deployment's worker checks again at every delivery, records FAILED at once and sends the rest."""
    from sqlalchemy import select

    from dlws_flow.store import outbox
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import NotificationRow

    allowed, refused = Site("127.0.0.1"), Site(NOBODY)
    try:
        job_uuid = submit(deny_api, app_id, "ssrf-deliver", "sleep 3; echo done")
        subscriptions = {}
        with session_scope() as session:
            for name, hook in (("allowed", allowed), ("refused", refused)):
                subscriptions[name] = outbox.add_subscription(
                    session, job_uuid=job_uuid, owner=USER, tenant="dlws", description=None, enabled=True,
                    category_filter="JOB_NEW_STATUS", ttl_minutes=None,
                    targets=[{"deliveryMethod": "WEBHOOK", "deliveryAddress": f"{hook.base}/hook"}]).uuid
        assert wait_status(job_uuid, ENDED, timeout=120)["status"] == "FINISHED"

        def statuses() -> list[str]:
            return [json.loads(json.loads(body)["event"]["data"])["newJobStatus"] for _, _, body in allowed.requests]

        wait_for(lambda: "FINISHED" in statuses(), "FINISHED at the allowed webhook", timeout=60)

        def refused_rows() -> list[NotificationRow]:
            with session_scope() as session:
                return list(session.scalars(select(NotificationRow).where(
                    NotificationRow.subscription_uuid == subscriptions["refused"]).order_by(NotificationRow.id)))

        wait_for(lambda: refused_rows() and all(r.status != "PENDING" for r in refused_rows()),
                 "the refused webhook's rows to be settled", timeout=60)
        rows = refused_rows()
        assert len(rows) == len(statuses())  # the same events, each tried once and given up
        assert {(r.status, r.attempts) for r in rows} == {("FAILED", 1)}
        assert {r.last_error for r in rows} == {f"AddressNotAllowedError: address not allowed ({NOBODY})"}
        assert refused.requests == [], "a refused webhook was sent"
    finally:
        allowed.close()
        refused.close()


# --- the adapter's TLS: the checked address is connected to, the certificate is verified for the name -----


def _certificate(names: list[str]) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server key), PEM, from a throwaway CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dlws ssrf test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), cert.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class TlsSite:
    """A real HTTPS server on 127.0.0.1 that records the SNI name and Host header of each request."""

    def __init__(self, names: list[str], tmp: Path) -> None:
        ca, cert, key = _certificate(names)
        (tmp / "ca.pem").write_bytes(ca)
        (tmp / "cert.pem").write_bytes(cert + key)
        self.client_context = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tmp / "cert.pem"))
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.hosts.append(self.headers["Host"])
                self.send_response(200)
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"tls ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_https_uses_the_name_for_sni_and_certificate_while_connecting_to_the_checked_address(tmp_path):
    from dlws_flow.adapters.staging import safe_http
    from dlws_flow.domain.address_policy import AddressNotAllowedError, AddressPolicy

    loopback_allowed = AddressPolicy.parse(allow="127.0.0.1")
    (tmp_path / "good").mkdir()
    (tmp_path / "wrong").mkdir()
    good, wrong = TlsSite(["localhost"], tmp_path / "good"), TlsSite(["files.example.org"], tmp_path / "wrong")
    try:
        with safe_http.stream("GET", f"https://localhost:{good.port}/x", timeout=10, policy=loopback_allowed,
                              ssl_context=good.client_context) as response:
            assert response.status_code == 200 and response.read() == b"tls ok"
        assert good.sni == ["localhost"] and good.hosts == [f"localhost:{good.port}"]
        # The same pinned connection to a server whose certificate is for another name: verification fails.
        with (pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
              safe_http.stream("GET", f"https://localhost:{wrong.port}/x", timeout=10, policy=loopback_allowed,
                               ssl_context=wrong.client_context)):
            pass
        assert wrong.hosts == []
        # The default policy refuses before the TCP connection: the server sees no handshake at all.
        with (pytest.raises(AddressNotAllowedError),
              safe_http.stream("GET", f"https://localhost:{good.port}/x", timeout=10, policy=AddressPolicy(),
                               ssl_context=good.client_context)):
            pass
        assert good.sni == ["localhost"]
    finally:
        good.close()
        wrong.close()


def test_the_pinned_backend_never_connects_a_host_it_was_not_given():
    import httpcore

    from dlws_flow.adapters.staging.safe_http import PinnedBackend

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        backend = PinnedBackend("files.example.org", [ip_address("127.0.0.1")])
        backend.connect_tcp("files.example.org", listener.getsockname()[1], timeout=5).close()  # to the pinned address
        with pytest.raises(httpcore.ConnectError, match="no checked address"):
            backend.connect_tcp("localhost", listener.getsockname()[1], timeout=5)
    finally:
        listener.close()
