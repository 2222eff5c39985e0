from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TaskRun(models.Model):
    """One execution of a background task, written by the worker as it starts and ends."""

    class Status(models.TextChoices):
        QUEUED = "queued"  # sent from the console, not yet picked up by a worker
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    task_name = models.CharField(max_length=200, db_index=True)
    celery_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(null=True, blank=True, help_text="Share done, 0..1, when the task reports it.")
    progress_note = models.CharField(max_length=200, blank=True)
    log = models.TextField(blank=True, help_text="The task's log lines (the last 200).")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["started_at"], name="taskrun_started")]

    def __str__(self) -> str:
        return f"{self.task_name} [{self.status}]"

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class Watermark(models.Model):
    """How far a periodic job has processed a stream (e.g. interactions received)."""

    name = models.CharField(max_length=100, primary_key=True)
    value = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.value.isoformat()}"
