"""Run transfer elements: list a parent's children once (STAGED), then copy them one by one through the worker.

A worker runs a parent only while it holds the parent's *lease* (``transfer_parents.lease_holder`` until
``lease_expires``): it claims it with a compare-and-set, renews it as it copies (at least every third of
``DLWS_TRANSFER_LEASE_SECONDS``, with each child's progress in the same transaction), and gives it up at the
end. A worker that dies stops renewing; once the lease has expired the reconciler (``requeue_stalled``, run by
beat) hands the parent to a new message, which resumes where the records say: children already COMPLETED are
never copied again, the one that was in progress is copied again from its start (its partial copy went to a
temporary name, never to the destination). A worker that was only slow and finds its lease taken stops at its
next renewal without recording anything. Cancelling a task makes the next renewal fail the same way.

Files travel in chunks (``CHUNK``) from an SFTP read handle or an HTTP response to an SFTP write handle under
a temporary name next to the target, then ``mv`` into place (the SSH transport's read-ahead, paramiko's
``prefetch``, is not bounded: a destination slower than its source lets it buffer ahead). Paths are
resolved on their host with ``realpath`` and must stay inside the system's rootDir (symlinks followed), as in
the Files API; symbolic links and special files in a source tree are not copied. http(s) sources go through
``adapters.staging.safe_http`` (the SSRF guard of job inputs)."""

from __future__ import annotations

import logging
import posixpath
import shlex
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from dlws_flow.adapters.staging import safe_http
from dlws_flow.adapters.staging.inputs import network_failure
from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.containment import resolve
from dlws_flow.domain.transfers import MAX_CHILDREN, TransferStatus, TransferUri, child_uri, overall_status, parse_uri
from dlws_flow.engine.faults import crash_point
from dlws_flow.engine.hosts import open_transport
from dlws_flow.errors import DlwsFlowError, NotFoundError, TransportError, ValidationError
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import utcnow
from dlws_flow.store.models_transfers import TransferChildRow, TransferParentRow, TransferTaskRow

log = logging.getLogger(__name__)

CHUNK = 1 << 20
#: Claims of one parent (worker deaths, transient failures) before it FAILS.
MAX_RUNS = 5
TEMPORARY_PREFIX = ".dlws-"
_FIND = r"%y\t%s\t%P\0"


class LeaseLost(Exception):
    """Another worker holds the parent now, or its task was cancelled: stop without recording anything."""


@dataclass
class Lease:
    """This worker's hold on one parent; ``record`` renews it and writes progress in one transaction."""

    parent_id: int
    holder: str
    seconds: float
    done_bytes: int = 0
    renewed: float = field(default_factory=time.monotonic)

    def record(self, child_id: int | None = None, current: int = 0, **child_values) -> None:
        now = utcnow()
        with session_scope() as session:
            if not repo.update_transfer_parent(session, self.parent_id, self.holder,
                                               lease_expires=now + timedelta(seconds=self.seconds),
                                               bytes_transferred=self.done_bytes + current):
                raise LeaseLost(self.parent_id)
            if child_id is not None:
                repo.update_transfer_child(session, child_id, **child_values)
        self.renewed = time.monotonic()

    def due(self) -> bool:  # progress every 2 s at most, the lease well before it expires
        return time.monotonic() - self.renewed >= min(self.seconds / 3, 2.0)


@dataclass(frozen=True)
class Element:
    """A claimed parent, as read at its claim (``runs`` counts this one)."""

    parent_id: int
    task_id: int
    username: str
    source: TransferUri
    destination: TransferUri
    optional: bool
    status: str
    runs: int


class Hosts:
    """Transports opened for one run, by system id, with each system's rootDir on its host."""

    def __init__(self, username: str) -> None:
        self.username = username
        self._open: dict[str, tuple[Transport, str]] = {}

    def get(self, system_id: str) -> tuple[Transport, str]:  # opened on first use, reused for the run
        if system_id not in self._open:
            with session_scope() as session:
                system = repo.system_spec(repo.get_system(session, system_id))
                self._open[system_id] = (open_transport(session, system, self.username), system.rootDir or "/")
        return self._open[system_id]

    def close(self) -> None:
        for transport, _ in self._open.values():
            transport.close()


def locate(transport: Transport, root: str, relative: str) -> tuple[str, str]:
    """``(real path, kind)`` of ``relative`` under ``root`` on the host; kind ``dir``, ``file``, ``other`` or
    ``missing``. Raises ``PermissionDeniedError`` when it resolves outside the root."""
    _, real, kind = resolve(transport, root, relative, special="other")
    return real, kind


# --- claiming and ending ------------------------------------------------------------------------------


def _claim(parent_id: int, token: str, lease: Lease) -> Element | None:
    now = utcnow()
    with session_scope() as session:
        if not repo.claim_transfer_parent(session, parent_id, token, lease.holder, now,
                                          now + timedelta(seconds=lease.seconds)):
            return None
        parent = session.get(TransferParentRow, parent_id)
        task = session.get(TransferTaskRow, parent.task_id)
        repo.start_transfer_task(session, task.id, now)
        if parent.start_time is None:
            repo.update_transfer_parent(session, parent_id, lease.holder, start_time=now)
        return Element(parent.id, task.id, task.username, parse_uri(parent.source_uri, "sourceURI", http_allowed=True),
                       parse_uri(parent.destination_uri, "destinationURI", http_allowed=False), parent.optional,
                       parent.status, parent.runs)


def _end(element: Element, lease: Lease, status: TransferStatus, error: str | None = None,
         child_id: int | None = None) -> None:
    now = utcnow()
    with session_scope() as session:
        values = {"status": status.value, "end_time": now, "lease_holder": None, "lease_expires": None}
        if status is TransferStatus.COMPLETED:
            values["bytes_transferred"] = lease.done_bytes
        if error:
            values["error_message"] = error[:4000]
        if repo.update_transfer_parent(session, element.parent_id, lease.holder, **values) and child_id is not None:
            repo.update_transfer_child(session, child_id, status=TransferStatus.FAILED.value, end_time=now,
                                       error_message=(error or "")[:4000])
    finish_task(element.task_id)


def finish_task(task_id: int) -> None:
    """Give the task its final status once all its parents have one (whoever ends the last parent does)."""
    with session_scope() as session:
        parents = repo.transfer_parents(session, [task_id])
        final = overall_status([p.status for p in parents])
        if final is not None:
            failed = next((p for p in parents if p.status == TransferStatus.FAILED.value), None)
            error = f"element {failed.source_uri} failed: {failed.error_message}" if failed else None
            repo.finish_transfer_task(session, task_id, final.value, utcnow(), error)


def _retry_later(element: Element, lease: Lease, error: str) -> None:
    """A transient failure: give the lease up until a backoff has passed; the reconciler then re-sends it."""
    with session_scope() as session:
        backoff = timedelta(seconds=lease.seconds * element.runs)
        repo.update_transfer_parent(session, element.parent_id, lease.holder, lease_holder=None,
                                    lease_expires=utcnow() + backoff, error_message=error[:4000])


def run_parent(parent_id: int, token: str) -> bool:
    """Run one element to its end, or until this worker loses it. False when it was not this message's to run
    (another worker holds it, or it is final). Permanent errors fail the element (FAILED_OPT if optional);
    transient ones (``TransportError``) retry it later, at most ``MAX_RUNS`` runs in all."""
    lease = Lease(parent_id, uuid.uuid4().hex, get_settings().transfer_lease_seconds)
    element = _claim(parent_id, token, lease)
    if element is None:
        return False
    failed = TransferStatus.FAILED_OPT if element.optional else TransferStatus.FAILED
    if element.runs > MAX_RUNS:
        _end(element, lease, failed, f"interrupted {MAX_RUNS} times (a worker died or a host failed each time)")
        return True
    hosts = Hosts(element.username)
    current: list[int] = []
    try:
        if element.status == TransferStatus.ACCEPTED:
            _stage(element, lease, hosts)
        _copy_children(element, lease, hosts, current)
        _end(element, lease, TransferStatus.COMPLETED)
    except LeaseLost:
        log.info("transfer element %s: lease lost (taken over or cancelled); stopping", parent_id)
    except TransportError as exc:
        if element.runs >= MAX_RUNS:
            _end(element, lease, failed, str(exc), current[-1] if current else None)
        else:
            log.warning("transfer element %s: %s; retrying later", parent_id, exc)
            _retry_later(element, lease, str(exc))
    except (DlwsFlowError, OSError) as exc:  # OSError: from SFTP (a file vanished, the host refused access)
        _end(element, lease, failed, str(exc) or type(exc).__name__, current[-1] if current else None)
    finally:
        hosts.close()
    return True


# --- staging ------------------------------------------------------------------------------------------


def _stage(element: Element, lease: Lease, hosts: Hosts) -> None:
    """Record the parent's children (a file: one; a directory: itself, its folders, then its files)."""
    destination = element.destination
    dst_transport, dst_root = hosts.get(destination.system_id)
    _, dst_kind = locate(dst_transport, dst_root, destination.path)
    if element.source.is_http:
        name = posixpath.basename(httpx.URL(element.source.uri).path.rstrip("/")) or "download"
        entries = [("f", 0, "")]
    else:
        transport, root = hosts.get(element.source.system_id)
        real, kind = locate(transport, root, element.source.path)
        if kind in ("missing", "other"):
            raise NotFoundError(f"source {element.source.uri} is not a file or directory")
        name = posixpath.basename(element.source.path)
        entries = _listing(transport, real, kind)
    is_dir = entries[0][0] == "d"
    if is_dir and dst_kind in ("file", "other"):
        raise ValidationError(f"destination {destination.uri} exists and is not a directory")
    target = destination if is_dir or dst_kind != "dir" else parse_uri(child_uri(destination, name), "destinationURI",
                                                                          http_allowed=False)
    children = [TransferChildRow(
        uuid=str(uuid.uuid4()), task_id=element.task_id, parent_id=element.parent_id, relative=relative,
        source_uri=child_uri(element.source, relative), destination_uri=child_uri(target, relative),
        dir=kind == "d", status=TransferStatus.ACCEPTED.value, total_bytes=size, bytes_transferred=0, retries=0)
        for kind, size, relative in entries]
    with session_scope() as session:
        if not repo.update_transfer_parent(session, element.parent_id, lease.holder, status=TransferStatus.STAGED.value,
                                           total_bytes=sum(c.total_bytes for c in children)):
            raise LeaseLost(element.parent_id)
        repo.add_transfer_children(session, children)


def _listing(transport: Transport, real: str, kind: str) -> list[tuple[str, int, str]]:
    """``(type, size, relative)``: the path itself first, then its folders (parents first), then its files."""
    if kind == "file":
        size = transport.run(f"stat -c %s -- {shlex.quote(real)}").check().stdout.strip()
        return [("f", int(size or 0), "")]
    # find's own status goes to stderr: a pipe would hide it, and a partial listing must not pass for a full one.
    command = (f"cd -- {shlex.quote(real)} && {{ find . -mindepth 1 \\( -type d -o -type f \\) -printf '{_FIND}'; "
               f"echo \"find-status=$?\" >&2; }} | head -z -n {MAX_CHILDREN + 1}")
    result = transport.run(command)
    records = [r.split("\t", 2) for r in result.stdout.split("\0") if r]
    if len(records) > MAX_CHILDREN:  # (find then died of SIGPIPE: expected)
        raise ValidationError(f"the source holds more than {MAX_CHILDREN} entries; transfer an archive of it instead")
    if result.exit_code != 0 or "find-status=0" not in result.stderr:  # unreadable folders: permanent
        raise ValidationError(f"the source could not be listed completely: {result.stderr.strip()[-500:]}")
    entries = [(t, int(s) if t == "f" else 0, p) for t, s, p in records
               if not any(part.startswith(TEMPORARY_PREFIX) for part in p.split("/"))]
    entries.sort(key=lambda e: (e[0] != "d", e[2]))
    return [("d", 0, ""), *entries]


# --- copying ------------------------------------------------------------------------------------------


def _copy_children(element: Element, lease: Lease, hosts: Hosts, current: list[int]) -> None:
    with session_scope() as session:
        children = repo.transfer_children(session, [element.parent_id])
    lease.done_bytes = sum(c.bytes_transferred for c in children if c.status == TransferStatus.COMPLETED.value)
    source_real = None
    if not element.source.is_http:
        transport, root = hosts.get(element.source.system_id)
        source_real, _ = locate(transport, root, element.source.path)
    dst_transport, dst_root = hosts.get(element.destination.system_id)
    with session_scope() as session:
        if not repo.update_transfer_parent(session, element.parent_id, lease.holder,
                                           status=TransferStatus.IN_PROGRESS.value):
            raise LeaseLost(element.parent_id)
    for child in children:
        if child.status == TransferStatus.COMPLETED.value:
            continue
        current.append(child.id)
        again = child.status == TransferStatus.IN_PROGRESS.value
        lease.record(child.id, status=TransferStatus.IN_PROGRESS.value, start_time=utcnow(), bytes_transferred=0,
                     retries=child.retries + (1 if again else 0))
        target = parse_uri(child.destination_uri, "destinationURI", http_allowed=False)
        real_target, kind = locate(dst_transport, dst_root, target.path)
        if child.dir:
            if kind not in ("dir", "missing"):
                raise ValidationError(f"destination {child.destination_uri} exists and is not a directory")
            dst_transport.makedirs(real_target)
            size = 0
        else:
            if kind not in ("file", "missing"):
                raise ValidationError(f"destination {child.destination_uri} exists and is not a regular file")
            with _reader(element, source_real, child, hosts) as (chunks, expected):
                size = _write(dst_transport, real_target, chunks, expected, lease, child, again)
        lease.done_bytes += size
        lease.record(child.id, status=TransferStatus.COMPLETED.value, end_time=utcnow(), bytes_transferred=size,
                     total_bytes=size)
        current.pop()


@contextmanager
def _reader(element: Element, source_real: str | None, child: TransferChildRow,
            hosts: Hosts) -> Iterator[tuple[Iterator[bytes], int]]:
    """The child's bytes in chunks, and how many are expected (0: unknown)."""
    if element.source.is_http:
        with _http_chunks(element.source.uri) as answer:
            yield answer
        return
    transport, _ = hosts.get(element.source.system_id)
    path = posixpath.join(source_real, child.relative) if child.relative else source_real
    with transport.open_read(path) as handle:
        yield iter(lambda: handle.read(CHUNK), b""), child.total_bytes


@contextmanager
def _http_chunks(url: str) -> Iterator[tuple[Iterator[bytes], int]]:
    """An http(s) source through the SSRF guard (every address and redirect checked, as for job inputs)."""
    try:
        with safe_http.stream("GET", url, timeout=60.0, max_redirects=safe_http.MAX_REDIRECTS) as response:
            if response.status_code >= 400:
                raise ValidationError(f"source {url} answered HTTP {response.status_code}")
            expected = int(response.headers.get("content-length") or 0)
            yield response.iter_bytes(CHUNK), expected
    except safe_http.RedirectError as exc:
        raise ValidationError(f"source {url}: {exc}") from exc
    except httpx.HTTPError as exc:
        log.warning("transfer source %s failed: %s: %s", url, type(exc).__name__, exc)  # details: operators only
        raise TransportError(f"downloading {url} failed: {network_failure(exc)}") from exc


def _write(transport: Transport, target: str, chunks: Iterator[bytes], expected: int, lease: Lease,
           child: TransferChildRow, again: bool) -> int:
    """Write ``chunks`` to a temporary name next to ``target``, then move it into place; returns the bytes.

    The temporary name starts with the child's uuid, so a run taking over from a worker that died mid-file
    removes what that one left (``again``) before it writes its own."""
    folder, child_id = posixpath.dirname(target), child.id
    leftovers = posixpath.join(folder, f"{TEMPORARY_PREFIX}{child.uuid}-")
    if not child.relative:
        transport.makedirs(folder)
    if again:
        transport.run(f"rm -f -- {shlex.quote(leftovers)}*").check()
    temporary = f"{leftovers}{uuid.uuid4().hex[:12]}"
    written, first = 0, True
    try:
        with transport.open_write(temporary) as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
                if first or lease.due():
                    lease.record(child_id, current=written, bytes_transferred=written)
                    if first and written < expected:
                        crash_point("transfer_mid_file")  # the crash-safety test kills the worker here
                    first = False
        transport.run(f"mv -f -- {shlex.quote(temporary)} {shlex.quote(target)}").check()
    except BaseException:
        try:
            transport.run(f"rm -f -- {shlex.quote(temporary)}")
        except DlwsFlowError:  # the host is gone: the write's own error is the one to report
            pass
        raise
    return written


def requeue_stalled() -> list[tuple[int, str]]:
    """Parents whose lease expired (their worker died, their message was lost, a retry is due), each handed to
    a new message token: ``(parent id, token)`` to send. A sweep racing another hands each parent once."""
    now = utcnow()
    until = now + timedelta(seconds=get_settings().transfer_lease_seconds)
    handed: list[tuple[int, str]] = []
    with session_scope() as session:
        for parent in repo.stalled_transfer_parents(session, now):
            token = f"requeue-{uuid.uuid4().hex}"
            if repo.hand_transfer_parent(session, parent, token, until):
                handed.append((parent.id, token))
    for parent_id, _ in handed:
        log.warning("transfer element %s: its lease expired; sending it again", parent_id)
    return handed
