"""The Celery application."""

from celery import Celery

app = Celery("dlws_flow", include=["workers.tasks", "workers.notification_tasks", "workers.file_tasks", "workers.beat_tasks", "workers.lifecycle", "workers.transfer_tasks", "workers.sweep_tasks"])
app.config_from_object("celeryconfig")
