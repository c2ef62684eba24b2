"""Wake the notification deliverer after a commit that queued notifications.

Imported by every process that records job events and can reach the broker: the workers (through
``workers.notification_tasks``) and the API/CLI (through ``workers.dispatch``). A process that never
imports it still records notifications; they are delivered at the next wake-up.
"""

from __future__ import annotations

from dlws_flow.store import outbox


def wake() -> None:
    from workers.notification_tasks import deliver_notifications

    deliver_notifications.apply_async()


outbox.set_wakeup(wake)
