"""Celery entry point: ``celery -A workers worker``."""

from workers.app import app

__all__ = ["app"]
