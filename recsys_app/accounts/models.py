from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest: write catalog, users and events"
    SERVE = "serve", "Serve: read recommendations and catalog"
    ADMIN = "admin", "Admin: manage tokens, users' data and settings"


class ApiToken(models.Model):
    """A client application's credential; only a hash of the key is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests a minute this key may make; empty: API_RATE_PER_MINUTE."
    )
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to",
        help_text="The key this one replaced; it stays valid until its grace period ends.",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    @property
    def client_ids(self) -> list[int]:
        """This key and the one it was rotated from: the same client application."""
        return [pk for pk in (self.pk, self.rotated_from_id) if pk]


class RateCounter(models.Model):
    """Hits of one key (a token, a login name, a chat user) in one fixed time window.

    Shared by every web process through PostgreSQL (an UNLOGGED table: counters need not
    survive a crash), counted with one upsert per hit (`accounts/ratelimit.py`).
    """

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="rate_counter_key_window")]
        indexes = [models.Index(fields=["window_start"], name="rate_counter_window")]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start:%H:%M}: {self.hits}"
