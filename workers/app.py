"""The Celery application."""

from celery import Celery

app = Celery("dlws_flow", include=["workers.tasks"])
app.config_from_object("celeryconfig")
