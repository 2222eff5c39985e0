# The Celery app must be loaded with Django so that `.delay()` finds the configured broker.
from recsys_app.celery import app as celery_app

__all__ = ("celery_app",)
