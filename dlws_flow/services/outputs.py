"""Listing and downloading a job's outputs: from the archive once archived, else from the exec output dir.

Paths are relative to that root; ``..`` is refused and the resolved path (symlinks followed, on the
host) must stay under the root, so a symlink in the outputs cannot expose other files.
"""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
import zipfile
from dataclasses import dataclass
from typing import Any

from dlws_flow.domain.paths import clean_relative
from dlws_flow.errors import NotFoundError, PermissionDeniedError
from dlws_flow.services.hosts import open_transport
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.transports import Transport


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes
    media_type: str


def _root(job_uuid: str) -> tuple[Transport, str]:
    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        dirs = job.host_dirs or {}
        if (job.spec or {}).get("archived"):
            system = repo.system_spec(repo.get_system(session, job.archive_system_id))
            root = dirs.get("ArchiveSystemDir")
        else:
            system = repo.system_spec(repo.get_system(session, job.exec_system_id))
            root = dirs.get("ExecSystemOutputDir")
        if not root:
            raise NotFoundError(f"job {job_uuid} has no outputs yet")
        return open_transport(session, system, job.owner), root


def _inside(transport: Transport, root: str, relative: str) -> str:
    target = posixpath.join(root, relative) if relative else root
    result = transport.run(f"realpath -e -- {shlex.quote(root)} {shlex.quote(target)}")
    lines = result.stdout.splitlines()
    if result.exit_code != 0 or len(lines) != 2:
        raise NotFoundError(f"output path {relative or '/'} not found")
    real_root, real_target = lines
    if real_target != real_root and not real_target.startswith(real_root.rstrip("/") + "/"):
        raise PermissionDeniedError(f"output path {relative} points outside the job's outputs")
    return target


def list_outputs(job_uuid: str, path: str = "") -> list[dict[str, Any]]:
    relative = clean_relative(path, "outputPath")
    transport, root = _root(job_uuid)
    target = _inside(transport, root, relative)
    if not transport.is_dir(target):
        return [{"name": posixpath.basename(target), "path": relative, "type": "file"}]
    result = []
    for entry in sorted(transport.walk(target), key=lambda e: e.path):
        result.append({"name": posixpath.basename(entry.path), "path": posixpath.join(relative, entry.path),
                       "type": "dir" if entry.is_dir else ("symlink" if entry.is_link else "file"), "size": entry.size,
                       "lastModified": entry.mtime})
    return result


def download(job_uuid: str, path: str = "", *, archive_format: str = "zip") -> Download:
    """A file's bytes, or a folder packed as zip (default) or tar.gz."""
    relative = clean_relative(path, "outputPath")
    transport, root = _root(job_uuid)
    target = _inside(transport, root, relative)
    if not transport.is_dir(target):
        return Download(posixpath.basename(target), transport.get_bytes(target), "application/octet-stream")
    base = posixpath.basename(target.rstrip("/")) or "output"
    files = [e for e in transport.walk(target) if not e.is_dir and not e.is_link]
    buffer = io.BytesIO()
    if archive_format == "tar":
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for entry in files:
                data = transport.get_bytes(posixpath.join(target, entry.path))
                info = tarfile.TarInfo(posixpath.join(base, entry.path))
                info.size, info.mtime = len(data), int(entry.mtime)
                tar.addfile(info, io.BytesIO(data))
        return Download(f"{base}.tar.gz", buffer.getvalue(), "application/gzip")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in files:
            archive.writestr(posixpath.join(base, entry.path), transport.get_bytes(posixpath.join(target, entry.path)))
    return Download(f"{base}.zip", buffer.getvalue(), "application/zip")
