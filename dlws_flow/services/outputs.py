"""Listing and downloading a job's outputs: from the archive once archived, else from the exec output dir.

Paths are relative to that root; ``..`` is refused here, and the gateway checks on the host that the
resolved path (symlinks followed) stays under the root, so a symlink in the outputs cannot expose
other files. The host I/O goes through a ``FileGateway`` (``services.files``): the in-process client
passes ``DirectFileGateway``, an API would pass the Celery one.
"""

from __future__ import annotations

import posixpath

from dataclasses import dataclass
from typing import Any

from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.paths import clean_relative
from dlws_flow.domain.states import TERMINAL_STATES
from dlws_flow.errors import NotFoundError
from dlws_flow.services.files import FileGateway
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes
    media_type: str


def _target(job_uuid: str, path: str) -> dict[str, Any]:
    """The gateway arguments for ``path`` under the job's output root.

    An archived job's outputs are the files it archived (``archivedPaths``), never whatever else its
    archive directory holds: a job archived into a folder of other files must not serve them. Jobs
    archived before that list was kept serve their archive directory as before."""
    relative = clean_relative(path, "outputPath")
    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        dirs = job.host_dirs or {}
        spec = job.spec or {}
        only = None
        if spec.get("archived"):
            system_id, root = job.archive_system_id, dirs.get("ArchiveSystemDir")
            only = spec.get("archivedPaths")
        else:
            system_id, root = job.exec_system_id, dirs.get("ExecSystemOutputDir")
        if not root:
            raise NotFoundError(f"job {job_uuid} has no outputs yet")
        target = {"system_id": system_id, "username": job.owner, "root": root, "path": relative}
        if only is None:
            hidden = _live_env_file(dirs, root)
            return {**target, "hidden": hidden} if hidden else target
        return {**target, "only": list(only)}


def _live_env_file(dirs: dict[str, str], root: str) -> list[str]:
    """The job's ``tapisjob.env`` as a path under its output root, when it lies there (the default output dir is
    the exec dir): before the archive rewrites it without them it holds the service secrets (``FAMILY_TOKEN``,
    which submits child jobs as the owner), so the outputs never show or send it; a job's reader is not its
    owner."""
    exec_dir = dirs.get("ExecSystemExecDir")
    if not exec_dir:
        return []
    relative = posixpath.relpath(posixpath.join(exec_dir, "tapisjob.env"), root)
    return [] if relative.startswith("..") else [relative]


def list_outputs(job_uuid: str, path: str = "", *, gateway: FileGateway) -> list[dict[str, Any]]:
    """Every entry under ``path`` (recursively), or the one file it names."""
    args = _target(job_uuid, path)
    listing = gateway.run("list", **args, recurse=True)
    if listing["kind"] != "dir":
        return [{"name": e["name"], "path": e["path"], "type": "file"} for e in listing["entries"]]
    return [{"name": e["name"], "path": e["path"], "type": e["type"], "size": e["size"], "lastModified": e["mtime"]}
            for e in listing["entries"]]


def download(job_uuid: str, path: str = "", *, archive_format: str = "zip", gateway: FileGateway) -> Download:
    """A file's bytes, or a folder packed as zip (default) or tar.gz."""
    result = gateway.run("download", **_target(job_uuid, path), zip=True, archive_format=archive_format)
    return Download(result["filename"], result["content"], result["media_type"])


def tail(job_uuid: str, path: str | None = None, offset: int = 0, limit: int = 65536, *,
         gateway: FileGateway) -> dict[str, Any]:
    """The job's output file (its ``stdoutFilename`` unless ``path`` names another) from byte ``offset``: while
    it runs from the exec host's output dir, once archived from the archive. ``nextOffset`` is where to ask
    again; ``text`` ends at a whole UTF-8 character (a character cut by ``limit`` comes with the next answer);
    ``ended`` says the job ended, so nothing more will be written once ``nextOffset`` reaches ``size``."""
    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        name = path or JobSpecView.of(job.spec).log_config.stdoutFilename
        status = job.status
    answer = gateway.run("tail", **_target(job_uuid, name), offset=offset, limit=limit)
    content: bytes = answer["content"]
    text, kept = _whole_characters(content)
    return {"path": name, "offset": offset, "nextOffset": offset + kept, "size": answer["size"], "text": text,
            "jobStatus": status, "ended": status in TERMINAL_STATES}


def _whole_characters(content: bytes) -> tuple[str, int]:
    """``content`` decoded up to its last whole UTF-8 character, and how many bytes that is. Bytes that are not
    UTF-8 at all are replaced, not held back."""
    try:
        return content.decode(), len(content)
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(content):  # a character cut at the end
            return content[:exc.start].decode(errors="replace"), exc.start
        return content.decode(errors="replace"), len(content)
