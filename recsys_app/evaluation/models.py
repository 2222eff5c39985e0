from __future__ import annotations

from django.db import models
from django.utils import timezone


class EvaluationRun(models.Model):
    """One offline evaluation: a split of the logged interactions and each recommender's scores."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    params = models.JSONField(default=dict, help_text="k values, test fraction, models and their parameters.")
    split = models.JSONField(default=dict, blank=True, help_text="Cutoff and sizes of the train and test sets.")
    results = models.JSONField(default=dict, blank=True, help_text="{recommender: {metric: value}}")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"evaluation #{self.pk} ({self.status})"
