"""The Celery application: `celery -A workers worker` starts a worker."""

from workers.app import app

__all__ = ["app"]
