"""Wake the notification deliverer after a commit that queued notifications.

Imported by every process that records job events and can reach the broker: the workers (through
``workers.notification_tasks``) and the API/CLI (through ``workers.dispatch``). A process that never
imports it still records notifications; they are delivered at the next wake-up.
"""

from __future__ import annotations

from dlws_flow.store import outbox
from workers.app import app


def wake() -> None:
    # By name: the delivery task imports this module (to register the wake-up in workers too).
    app.send_task("dlws.deliver_notifications")


outbox.set_wakeup(wake)
