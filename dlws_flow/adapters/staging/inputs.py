"""Job inputs: ``http(s)://`` URLs, ``tapis://<system>/<path>`` on a registered system, paths that
already exist on the exec system (``file:///path`` or a bare absolute path, copied), and Tapis' in-place
inputs (``tapislocal://exec.tapis/<path>``, under the exec system's rootDir, used where they are).

HTTP downloads run in the worker and are streamed to the exec host over SFTP, because an HPC login
node often has no route to the internet while the service does. That also puts the worker's own network
within a URL's reach, so downloads go through ``dlws_flow.adapters.staging.safe_http``: every address (and every
redirect hop) is checked against the deployment's policy before it is connected to, and a refused one
fails the job with "address not allowed". Network failures reach the user as a generic message (the
details are in the worker log), so a job cannot be used to map which internal ports answer.
"""

from __future__ import annotations

import logging
import posixpath
import shlex
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import httpx

from dlws_flow.adapters.staging import safe_http
from dlws_flow.adapters.transports.base import Transport
from dlws_flow.domain.address_policy import AddressNotAllowedError
from dlws_flow.domain.paths import clean_relative
from dlws_flow.errors import PermissionDeniedError, TransportError, ValidationError

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class InputSource:
    kind: str
    """"http", "tapis", "exec" (a host path, copied) or "local" (``tapislocal``: rootDir-relative, not copied)."""
    url: str
    system_id: str | None = None
    path: str = ""

    @property
    def default_name(self) -> str:
        tail = urlparse(self.url).path if self.kind == "http" else self.path
        return posixpath.basename(tail.rstrip("/")) or "input"


def parse_source(url: str) -> InputSource:
    """Classify a ``sourceUrl``; refuses anything else with a message naming the URL."""
    if not url or any(ord(c) < 32 for c in url) or len(url) > 4096:
        raise ValidationError(f"sourceUrl {url[:200]!r} must be a single line of at most 4096 characters")
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc:
            raise ValidationError(f"sourceUrl {url!r} has no host")
        return InputSource("http", url)
    if parsed.scheme == "tapis":
        if not parsed.netloc:
            raise ValidationError(f"sourceUrl {url!r} must be tapis://<systemId>/<path>")
        return InputSource("tapis", url, parsed.netloc, "/" + clean_relative(unquote(parsed.path), "sourceUrl path"))
    if not parsed.scheme and url.startswith("/"):  # a bare path is a path: ';', '?' and '#' in it are characters
        return InputSource("exec", url, None, "/" + clean_relative(url, "sourceUrl path"))
    if parsed.scheme == "file":
        return InputSource("exec", url, None, "/" + clean_relative(unquote(parsed.path), "sourceUrl path"))
    if parsed.scheme == "tapislocal":  # the host part is a placeholder (Tapis writes exec.tapis): not read
        return InputSource("local", url, None, "/" + clean_relative(unquote(parsed.path), "sourceUrl path"))
    raise ValidationError(f"sourceUrl {url!r}: supported schemes are http, https, tapis, tapislocal and file")


def network_failure(exc: httpx.HTTPError) -> str:
    """What a user is told about a failed exchange with an allowed address: the kind of failure only."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        cause = cause.__cause__ or cause.__context__
    return "could not connect" if isinstance(exc, httpx.ConnectError) else "the connection failed"


def fetch_http(url: str, target: str, exec_host: Transport, timeout: float = 60.0) -> None:
    """Download ``url`` (redirects followed, every hop checked) to ``target`` on the exec host.

    Raises:
        AddressNotAllowedError: the host or a redirect's host is refused by the deployment's policy (permanent).
        ValidationError: an HTTP error status, a bad redirect, too many redirects, a bad URL (permanent).
        TransportError: the network failed (transient: retried, then the job blocks).
    """
    tmp = posixpath.join(posixpath.dirname(target), f".dlws-{uuid.uuid4().hex}")
    try:
        with safe_http.stream("GET", url, timeout=timeout, max_redirects=safe_http.MAX_REDIRECTS) as response:
            if response.status_code >= 400:
                raise ValidationError(f"input {url} answered HTTP {response.status_code}")
            with exec_host.open_write(tmp) as handle:
                for chunk in response.iter_bytes(CHUNK):
                    handle.write(chunk)
    except AddressNotAllowedError as exc:
        raise AddressNotAllowedError(exc.host, exc.reason, redirected=exc.redirected, subject=f"input {url}") from exc
    except safe_http.RedirectError as exc:
        raise ValidationError(f"input {url}: {exc}") from exc
    except httpx.HTTPError as exc:
        log.warning("downloading input %s failed: %s: %s", url, type(exc).__name__, exc)  # the details: operators only
        raise TransportError(f"downloading input {url} failed: {network_failure(exc)}") from exc
    exec_host.run(f"mv -f -- {shlex.quote(tmp)} {shlex.quote(target)}").check()


def copy_between(source: Transport, source_path: str, target: Transport, target_path: str) -> None:
    """Copy a file or directory tree from one host to another through the worker.

    Symlinks inside a tree are left out: reading one would copy whatever it points to, anywhere on the host.
    """
    if source.is_dir(source_path):
        entries = source.walk(source_path)
        target.makedirs(target_path, *[posixpath.join(target_path, e.path) for e in entries if e.is_dir])
        files = [e for e in entries if not e.is_dir and not e.is_link]
    else:
        files, source_path = [None], source_path
    for entry in files:
        src = posixpath.join(source_path, entry.path) if entry else source_path
        dst = posixpath.join(target_path, entry.path) if entry else target_path
        tmp = posixpath.join(posixpath.dirname(dst), f".dlws-{uuid.uuid4().hex}")
        with source.open_read(src) as reader, target.open_write(tmp) as writer:
            while chunk := reader.read(CHUNK):
                writer.write(chunk)
        target.run(f"mv -f -- {shlex.quote(tmp)} {shlex.quote(dst)}").check()


def copy_on_host(host: Transport, source_path: str, target_path: str) -> None:
    host.run(f"rm -rf -- {shlex.quote(target_path)} && cp -RP -- {shlex.quote(source_path)} {shlex.quote(target_path)}").check()


def check_inside_root(transport: Transport, root: str, path: str, url: str) -> None:
    """Refuse a ``tapis://`` source that resolves (symlinks followed) outside its system's rootDir, as the
    Files API does: a link under the root must not expose what lies outside it."""
    result = transport.run(f"realpath -e -- {shlex.quote(root)} {shlex.quote(path)}")
    lines = result.stdout.splitlines()
    if result.exit_code != 0 or len(lines) != 2:
        raise ValidationError(f"input {url} does not exist")
    real_root, real_path = lines
    if real_path != real_root and not real_path.startswith(real_root.rstrip("/") + "/"):
        raise PermissionDeniedError(f"input {url} points outside the root directory of its system")


def check_in_place(source: InputSource, exec_host: Transport, exec_root: str, host_path: str) -> None:
    """A ``tapislocal`` input is not copied: check that it is there, and (symlinks followed) under the exec
    system's rootDir, as a ``tapis://`` source must be.

    Raises:
        ValidationError: it does not exist. PermissionDeniedError: it resolves outside the rootDir.
    """
    check_inside_root(exec_host, exec_root, host_path, source.url)


def stage_input(source: InputSource, target_path: str, exec_host: Transport, exec_system_id: str,
                host_path_on: Callable[[str, str], tuple[Transport, str, str]]) -> None:
    """Place one input at ``target_path`` (absolute, on the exec host); safe to repeat.

    Args:
        host_path_on: (system id, Tapis path) -> (transport, the system's root on its host, absolute host
            path) for tapis:// sources.
    """
    if source.kind == "http":
        fetch_http(source.url, target_path, exec_host)
    elif source.kind == "exec":
        copy_on_host(exec_host, source.path, target_path)
    else:
        assert source.system_id is not None
        transport, root, path = host_path_on(source.system_id, source.path)
        check_inside_root(transport, root, path, source.url)
        if source.system_id == exec_system_id:
            copy_on_host(exec_host, path, target_path)
        else:
            if not transport.exists(path):
                raise ValidationError(f"input {source.url} does not exist")
            copy_between(transport, path, exec_host, target_path)
