"""A running job's SSH entry for its OpenPAI key (``domain.job_ssh`` says what is written and why). Both
run in a worker: ``open_entry`` as a host operation through the file gateway (``services.job_ssh_ops``),
``close_entry`` as the task ``dlws.close_job_ssh``.

``open_entry`` installs it on the job's exec host, once per job, and proves it where it can: a login with the
job's private key (while the deployment still holds it, before its one download) must reach the enter script.
A host where it does not is told as the reason, and the line is taken out again: an sshd that reads another
``AuthorizedKeysFile``, or one with ``ForceCommand``, which would run its own command instead of ours and
so give the key a plain shell. A system whose notes say ``"jobSsh": false`` gets no entry at all.

``close_entry`` runs after the end of a job that has an entry (``has_entry``, asked by a job-end hook): it
takes the line and the script out again, retried while the host is unreachable. A line the host never lets
us remove stays behind, but it expires by itself (``expiry-time``) and its script refuses the ended job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dlws_flow.adapters import registry
from dlws_flow.adapters.transports import Transport
from dlws_flow.adapters.transports.key_login import run_with_key
from dlws_flow.domain import job_ssh
from dlws_flow.domain.job_spec import JobSpecView
from dlws_flow.domain.states import JobStatus
from dlws_flow.engine.hosts import login_for, open_transport
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    #: Whether the job's key logs in to the job now.
    ready: bool
    login: str
    message: str | None = None
    #: Whether a login with the key was tried and reached the job (None: not tried, the key was downloaded).
    verified: bool | None = None
    #: The host (or its system's policy) does not let the key in, for the job's whole life (``message``: why).
    refused: bool = False


def open_entry(transport: Transport, job_uuid: str, public_key: str, private_key: str | None) -> Entry:
    """Install (once, through ``transport``, a login to the job's exec host as its owner) and check the job's
    entry; the job must be RUNNING.

    Raises:
        HostError: the exec host could not be reached (nothing is recorded: the next call tries again).
    """
    with session_scope() as session:
        job = repo.get_job(session, job_uuid)
        system = repo.system_spec(repo.get_system(session, job.exec_system_id))
        login = login_for(session, system, job.owner)
        known = repo.job_ssh_entry(session, job_uuid)
        if known is not None:
            return Entry(ready=known.problem is None, login=login, message=known.problem, verified=known.verified,
                         refused=known.problem is not None)
        if JobStatus(job.status) != JobStatus.RUNNING:
            return Entry(ready=False, login=login, message=f"the task is {job.status}: it can be entered while it runs")
        exec_dir = (job.host_dirs or {}).get("ExecSystemExecDir", "")
        spec = JobSpecView.of(job.spec)
        if (system.notes or {}).get("jobSsh") is False:
            return _refused(session, job_uuid, system.id, exec_dir, login,
                            f"system {system.id} does not allow SSH logins to jobs (notes.jobSsh is false)")
        runtime = registry.create("runtime", spec.runtime)
        try:
            line = job_ssh.key_line(job_uuid, exec_dir, public_key, job_ssh.expiry(utcnow(), spec.maxMinutes))
        except job_ssh.JobSshError as exc:
            return _refused(session, job_uuid, system.id, exec_dir, login, str(exc))
        script = job_ssh.enter_script(job_uuid, exec_dir, runtime.build_shell_command(spec.containerImage, job_uuid))
        host_key, _ = repo.host_key_of(session, system.id)
    transport.run(job_ssh.install_command(job_uuid, exec_dir, line, script)).check()
    problem, verified = None, None
    if private_key is not None and host_key:
        problem = _probe(system.host, system.port, login, host_key, private_key, job_uuid)
        verified = problem is None
        if problem:
            transport.run(job_ssh.remove_command(job_uuid, exec_dir))
    with session_scope() as session:
        repo.record_job_ssh_entry(session, job_uuid, system_id=system.id, exec_dir=exec_dir, verified=verified,
                                  problem=problem)
    return Entry(ready=problem is None, login=login, message=problem, verified=verified, refused=problem is not None)


def _refused(session, job_uuid: str, system_id: str, exec_dir: str, login: str, problem: str) -> Entry:
    repo.record_job_ssh_entry(session, job_uuid, system_id=system_id, exec_dir=exec_dir, verified=None,
                              problem=problem)
    return Entry(ready=False, login=login, message=problem, refused=True)


def _probe(host: str, port: int, login: str, host_key: str, private_key: str, job_uuid: str) -> str | None:
    """Log in with the job's key: None when the login reaches the job's enter script, else why not."""
    result = run_with_key(host, port, login, host_key, private_key, job_ssh.PROBE_COMMAND,
                          timeout=get_settings().ssh_connect_timeout)
    where = f"{login}@{host}:{port}"
    if not result.accepted:
        return (f"the exec host {where} did not accept the job's key: its sshd does not read "
                "~/.ssh/authorized_keys (AuthorizedKeysFile) or does not allow key logins")
    if job_ssh.probe_answer(job_uuid) not in result.stdout:
        return (f"a login with the job's key on {where} does not reach the job: the host's sshd runs a command "
                "of its own for every login (ForceCommand), which would bypass the key's restriction to this "
                "job; the key was taken out again")
    return None


def has_entry(job_uuid: str) -> bool:
    with session_scope() as session:
        return repo.job_ssh_entry(session, job_uuid) is not None


def close_entry(job_uuid: str, *, give_up: bool = False) -> None:
    """After the job ended: take its entry off the exec host, and forget it. ``give_up``: forget it without
    reaching the host (it stays there until it expires).

    Raises:
        HostError: the host could not be reached or the edit failed (the entry is kept for a retry).
    """
    with session_scope() as session:
        entry = repo.job_ssh_entry(session, job_uuid)
        if entry is None:
            return
        exec_dir, installed = entry.exec_dir, entry.problem is None and not give_up
        if installed:
            system = repo.system_spec(repo.get_system(session, entry.system_id))
            transport = open_transport(session, system, repo.get_job(session, job_uuid).owner)
    if installed:
        try:
            transport.run(job_ssh.remove_command(job_uuid, exec_dir)).check()
        finally:
            transport.close()
    elif give_up and entry.problem is None:
        log.warning("job %s ended: its SSH entry could not be taken off its host and stays there until it expires "
                    "(its script refuses the ended job meanwhile)", job_uuid)
    with session_scope() as session:
        repo.drop_job_ssh_entry(session, job_uuid)
