"""Celery settings for dlws-flow, read from ``DLWS_*`` environment variables.

Defaults make a worker run with nothing else installed: kombu's filesystem transport under the data
directory as the broker. Production sets ``DLWS_BROKER_URL`` to RabbitMQ or Redis (docs/operations.md).
"""

from __future__ import annotations

import os

from dlws_flow.settings import get_settings

_settings = get_settings()
_embedded = not _settings.broker_url

if _embedded:
    _queue_dir = _settings.ensure_data_dir() / "broker"
    (_queue_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_queue_dir / "control").mkdir(parents=True, exist_ok=True)
    broker_url = "filesystem://"
    broker_transport_options = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        # kombu's default is "control" relative to the working directory (broadcast/pidbox exchanges)
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    broker_url = _settings.broker_url
    # Redis re-delivers an unacknowledged message after this many seconds (a killed worker's task).
    broker_transport_options = {"visibility_timeout": int(os.environ.get("DLWS_VISIBILITY_TIMEOUT", "300"))}



def _default_result_backend() -> str:
    """Where task results go unless ``DLWS_RESULT_BACKEND`` says otherwise: next to the broker.

    Only ``dlws.file_op`` stores a result (the API waits for it); every other task ignores its own.
    """
    if _embedded:
        return f"db+sqlite:///{_settings.ensure_data_dir() / 'celery-results.sqlite'}"
    scheme = broker_url.split(":", 1)[0].lower()
    if scheme in ("redis", "rediss", "sentinel"):
        return broker_url
    if scheme in ("amqp", "amqps", "pyamqp"):
        return "rpc://"
    return f"db+sqlite:///{_settings.ensure_data_dir() / 'celery-results.sqlite'}"


result_backend = _settings.result_backend or _default_result_backend()
# Results are read once by the API and then forgotten; whatever is left over expires.
result_expires = 3600
# One queue name per deployment; tests give each run its own so runs never consume each other's tasks.
task_default_queue = _settings.queue
task_ignore_result = True

# A stage's message is acknowledged only after the stage finished, and re-queued if the worker process
# died under it: the stage then runs again, which is safe because every stage is idempotent.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# A stage bounds itself (DLWS_STAGE_TIME_LIMIT, workers/tasks.py); in a prefork pool Celery's soft limit
# also ends a stage stuck outside a remote operation, and the hard limit replaces a child that ignores it.
# The thread pool has no time limits: there the stage's own deadline and the transport's timeouts bound it.
if _settings.stage_time_limit:
    task_soft_time_limit = _settings.stage_time_limit + 10
    task_time_limit = task_soft_time_limit + max(30.0, _settings.worker_stop_grace)

# Flower reads these events: task names and arguments (the job UUID) of every stage.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

task_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
broker_connection_retry_on_startup = True
worker_hijack_root_logger = False

# One beat per deployment (docs/operations.md) runs the reconciler: stages whose task was lost are sent again.
beat_schedule = {
    "reconcile-stalled-jobs": {"task": "dlws.reconcile", "schedule": _settings.reconcile_interval,
                               "options": {"expires": _settings.reconcile_interval}},
    "recover-blocked-jobs": {"task": "dlws.recover", "schedule": _settings.recovery_interval,
                             "options": {"expires": _settings.recovery_interval}},
}
