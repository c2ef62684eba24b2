"""``dlws.transfer``: run one transfer element (``dlws_flow.engine.transfers.run_parent``).

The message carries the element's id and the token its lease was handed to; a message whose token no longer
holds the lease (a duplicate, a redelivery after its worker died while the lease had not expired) does
nothing. Acknowledged late, but recovery does not rest on redelivery: the reconciler's beat sweep sends the
element again once its lease has expired (``requeue_stalled_transfers``), whatever the broker did.
"""

from __future__ import annotations

from dlws_flow.engine import transfers
from dlws_flow.services import transfers as transfer_service
from workers.app import app

#: An element runs as long as its data takes (hours for a large tree); the stage time limits of celeryconfig
#: are for job stages. Its lease, not a time limit, is what notices a worker that stopped.
_A_WEEK = 7 * 24 * 3600


@app.task(name="dlws.transfer", acks_late=True, ignore_result=True, soft_time_limit=_A_WEEK, time_limit=_A_WEEK + 60)
def run_transfer_parent(parent_id: int, token: str) -> bool:
    return transfers.run_parent(parent_id, token)


def send_parent(parent_id: int, token: str) -> None:
    """Hand an element to a worker of its destination system's queue."""
    app.send_task("dlws.transfer", args=(parent_id, token), queue=transfer_service.queue_of_parent(parent_id))


def requeue_stalled_transfers() -> int:
    """Send again every element whose lease expired; returns how many."""
    handed = transfers.requeue_stalled()
    for parent_id, token in handed:
        send_parent(parent_id, token)
    return len(handed)
