"""One probe of a blocked (system, login): the recovery sweep calls it until the fault is gone."""

from __future__ import annotations

import logging

from dlws_flow.adapters import registry
from dlws_flow.domain.recovery import Condition
from dlws_flow.engine.hosts import open_transport
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope

log = logging.getLogger(__name__)

#: Whether the login can still write a file in its home: the condition that blocked the job was a full disk.
STORAGE_PROBE = 'f=$(mktemp "${HOME:-/tmp}/.dlws-probe.XXXXXX") && echo probe > "$f"; s=$?; rm -f "$f"; exit $s'


def probe_system(system_id: str, username: str, condition: str) -> None:
    """One probe of a blocked (system, login): raises a ``DlwsFlowError`` while the fault holds."""
    with session_scope() as session:
        system = repo.system_spec(repo.get_system(session, system_id))
        transport = open_transport(session, system, username, probing=True)
    if condition == Condition.SCHEDULER_UNAVAILABLE:
        command = registry.create("scheduler", system.batchScheduler or "SLURM").build_probe_command()
    elif condition == Condition.STORAGE_FULL:
        command = STORAGE_PROBE
    else:
        command = "true"
    transport.run(command).check()

