"""Guardrail policy, the audit log, deletion requests and daily exposure figures."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class Guardrail(models.Model):
    """An operator's setting for one guardrail of the chain; a guardrail without a row runs
    with the defaults in `guardrails.DEFAULTS`."""

    class Action(models.TextChoices):
        BLOCK = "block", "Block the call"
        REDACT = "redact", "Redact the matched text"
        NEUTRALISE = "neutralise", "Remove the instruction-like sentence"
        FLAG = "flag", "Record only"

    name = models.SlugField(max_length=32, primary_key=True)
    enabled = models.BooleanField(default=True)
    on_input = models.BooleanField(default=True, help_text="Check the prompt's variables (data sent to the model).")
    on_output = models.BooleanField(default=True, help_text="Check the model's answer.")
    action = models.CharField(max_length=12, choices=Action.choices)
    threshold = models.FloatField(
        null=True, blank=True, help_text="Toxicity: score from which text counts as toxic (0-1). Grounding: the "
        "share of claims that must hold (0-1).",
    )  # fmt: skip
    terms = models.JSONField(
        default=list, blank=True, help_text='Banned terms: e.g. ["Netflix", "Amazon Prime"]. Matched as whole words.'
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from recsys_app.safety.guardrails import DEFAULTS

        default = DEFAULTS.get(self.name)
        if default is None:
            raise ValidationError({"name": f"unknown guardrail; one of {', '.join(sorted(DEFAULTS))}"})
        if self.action not in default.actions:
            raise ValidationError({"action": f"{self.name} can {', '.join(default.actions)}, not {self.action}"})
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValidationError({"threshold": "a threshold is between 0 and 1"})
        if not isinstance(self.terms, list) or not all(isinstance(t, str) and t.strip() for t in self.terms):
            raise ValidationError({"terms": "a list of non-empty strings"})


class AuditEntry(models.Model):
    """One operator action that changed what end users see. Rows are append-only: a trigger in
    the database refuses UPDATE and DELETE (migration 0001)."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="+", help_text="Kept as an id even if the account is removed; see actor_name.",
    )  # fmt: skip
    actor_name = models.CharField(max_length=150, blank=True, help_text="Username at the time; empty: the system.")
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. collection.publish, rule.change")
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=255)
    summary = models.CharField(max_length=500, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.at:%Y-%m-%d %H:%M} {who} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)


class DeletionRequest(models.Model):
    """An end user's erasure, run as a job. The external id is cleared once done; the request
    keeps a hash of it, so a repeated request can be recognised without keeping the id."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    user_external_id = models.CharField(max_length=255, blank=True, db_collation="C")
    subject_hash = models.CharField(max_length=64, db_index=True, help_text="sha256 of the external id.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    requested_via = models.CharField(max_length=32, default="console", help_text="console, api or command.")
    requested_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows removed or redacted, per kind.")
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"deletion #{self.pk} ({self.status})"


class ExposureDaily(models.Model):
    """Who got seen on one day, on one surface and experiment variant: impression share against
    catalog share by creator group and by popularity band, the Gini coefficient of impressions
    over available items, and coverage."""

    day = models.DateField()
    surface = models.CharField(max_length=64)
    experiment = models.CharField(max_length=64, blank=True)
    variant = models.CharField(max_length=64, blank=True)
    impressions = models.PositiveBigIntegerField()
    items_shown = models.PositiveIntegerField()
    catalog_items = models.PositiveIntegerField(help_text="Available items that day (the denominator).")
    gini = models.FloatField(help_text="0: every item seen equally; 1: one item gets every impression.")
    coverage = models.FloatField(help_text="Share of available items shown at least once.")
    groups = models.JSONField(
        default=dict, help_text='{"creator_group": {"<group>": {"impressions", "impression_share", '
        '"catalog_share"}}, "popularity_band": {...}}',
    )  # fmt: skip
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "surface", "experiment", "variant"]
        verbose_name_plural = "exposure (daily)"
        constraints = [
            models.UniqueConstraint(fields=["day", "surface", "experiment", "variant"], name="exposure_daily_key")
        ]

    def __str__(self) -> str:
        variant = f" {self.experiment}/{self.variant}" if self.experiment else ""
        return f"{self.day} {self.surface}{variant}"
