"""What the platform has (items, creators), who uses it (end users) and what they did."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The text lexical search matches; the index and the queries use this same expression.
SEARCH_DOCUMENT = SearchVector("title", "category_path", "description", config="english")


class ItemKind(models.TextChoices):
    PRODUCT = "product"
    POST = "post"
    VIDEO = "video"
    ARTICLE = "article"
    MOVIE = "movie"
    MUSIC = "music"
    LISTING = "listing"
    OTHER = "other"


class Creator(models.Model):
    """A seller or author; `group` is the label fairness-of-exposure reports group by."""

    external_id = models.CharField(max_length=255, db_collation="C")
    name = models.CharField(max_length=300, blank=True)
    group = models.CharField(max_length=64, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [models.UniqueConstraint(fields=["external_id"], name="creator_external_id_unique")]

    def __str__(self) -> str:
        return self.name or self.external_id


class Item(models.Model):
    external_id = models.CharField(max_length=255, db_collation="C")
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.PRODUCT)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    category_path = models.CharField(max_length=500, blank=True, help_text="Levels joined by '/'.")
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    creator = models.ForeignKey(Creator, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    is_available = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    content_hash = models.CharField(
        max_length=64, help_text="sha256 of the text fields; embeddings are recomputed when it changes."
    )

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            GinIndex(fields=["tags"], name="item_tags_gin"),
            models.Index(fields=["category_path"], name="item_category_idx", opclasses=["text_pattern_ops"]),
            models.Index(fields=["-created_at"], name="item_created_idx"),
            GinIndex(SEARCH_DOCUMENT, name="item_search_gin"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="item_external_id_unique"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gte=0), name="item_price_not_negative"),
            models.CheckConstraint(condition=Q(price__isnull=True) | ~Q(currency=""), name="item_price_has_currency"),
        ]

    def __str__(self) -> str:
        return self.title


class EndUser(models.Model):
    """A user of the client platform (not an operator of this console)."""

    external_id = models.CharField(max_length=255, db_collation="C")
    attributes = models.JSONField(default=dict, blank=True)
    consent_personalization = models.BooleanField(default=True)
    consent_generative = models.BooleanField(default=False)
    consent_training = models.BooleanField(default=True)
    simulated = models.BooleanField(
        default=False, db_default=False, help_text="Created by simulated traffic (a user simulator), not a person."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]
        verbose_name = "end user"
        constraints = [models.UniqueConstraint(fields=["external_id"], name="enduser_external_id_unique")]

    def __str__(self) -> str:
        return self.external_id


class InteractionType(models.Model):
    """Configuration: which event types exist and how much each counts (negative counts against)."""

    code = models.SlugField(max_length=32, primary_key=True)
    weight = models.FloatField()
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-weight"]

    def __str__(self) -> str:
        return self.code

    @property
    def is_negative(self) -> bool:
        return self.weight < 0


class Interaction(models.Model):
    """One event. Append-only and the largest table, so its foreign keys are not enforced by
    the database: a per-row RI check cost 35% of import time. Ingestion only inserts rows whose
    user and item it resolved in the same statement, and deletes cascade through Django."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="interactions", db_constraint=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="interactions", db_constraint=False)
    type = models.ForeignKey(InteractionType, on_delete=models.PROTECT, db_column="type", db_constraint=False)
    value = models.FloatField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    surface = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict, blank=True)
    request_id = models.UUIDField(null=True, blank=True, help_text="Recommendation request this event answers.")
    idempotency_key = models.CharField(max_length=128, db_collation="C")
    received_at = models.DateTimeField(auto_now_add=True)
    simulated = models.BooleanField(default=False, db_default=False, help_text="Sent by a user simulator.")

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            # Reads go by user (history at serving time) or by time window (trending, training);
            # a per-item btree would cost 15% of ingest speed for queries the time window serves.
            models.Index(fields=["user", "-occurred_at"], name="interaction_user_time"),
            BrinIndex(fields=["occurred_at"], name="interaction_time_brin"),
            models.Index(fields=["request_id"], name="interaction_request", condition=Q(request_id__isnull=False)),
            # small (simulated rows only): the purge and "simulated only" reports find them by it
            models.Index(fields=["id"], name="interaction_simulated", condition=Q(simulated=True)),
        ]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="interaction_idempotency_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.type_id} {self.item_id}"


class Impression(models.Model):
    """One item shown in one recommendation response (append-only, like Interaction).

    `user` is empty when the platform asked for a user this console does not know yet; the
    external id is kept so the exposure still counts.
    """

    id = models.BigAutoField(primary_key=True)
    request_id = models.UUIDField()
    recommendation_id = models.UUIDField(help_text="The first page's request id; later pages share it.")
    user = models.ForeignKey(
        EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="impressions", db_constraint=False
    )
    user_external_id = models.CharField(max_length=255, blank=True, db_collation="C")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="impressions", db_constraint=False)
    shown_at = models.DateTimeField(default=timezone.now)
    surface = models.CharField(max_length=64, blank=True)
    position = models.PositiveIntegerField()
    source = models.CharField(max_length=64, blank=True, help_text="The source behind the item's reason.")
    sources = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    experiment = models.CharField(max_length=64, blank=True)
    variant = models.CharField(max_length=64, blank=True)
    score = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True, help_text="Server time to build the page it was on.")
    session_id = models.CharField(max_length=128, blank=True, help_text="The client's session, when it sent one.")
    assignments = models.JSONField(
        default=dict, blank=True, help_text="Every running experiment the unit was in: {experiment: variant}."
    )
    provenance = models.JSONField(
        null=True, blank=True, help_text="What generated the text shown with the item (prompt version, model, draft)."
    )
    simulated = models.BooleanField(default=False, db_default=False, help_text="Shown to a simulated user.")

    class Meta:
        ordering = ["-shown_at"]
        indexes = [
            models.Index(fields=["request_id"], name="impression_request"),
            models.Index(fields=["recommendation_id"], name="impression_recommendation"),
            models.Index(fields=["user", "-shown_at"], name="impression_user_time"),
            GinIndex(fields=["assignments"], name="impression_assignments", condition=~Q(assignments={})),
            BrinIndex(fields=["shown_at"], name="impression_time_brin"),
            models.Index(fields=["id"], name="impression_simulated", condition=Q(simulated=True)),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}#{self.position}"


class ImportRun(models.Model):
    """One file import; `rows_done` is the committed offset a rerun resumes from."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=16)
    source = models.CharField(max_length=1000)
    file_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    rows_done = models.BigIntegerField(default=0)
    rows_stored = models.BigIntegerField(default=0)
    rows_unchanged = models.BigIntegerField(default=0, help_text="Duplicate events or unchanged catalog rows.")
    rows_rejected = models.BigIntegerField(default=0)
    rejects_path = models.CharField(max_length=1000, blank=True)
    rejects_bytes = models.BigIntegerField(default=0, help_text="Length of the rejects file at the last commit.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "file_sha256"], name="import_once_per_file")]

    def __str__(self) -> str:
        return f"{self.kind} {self.source} ({self.status})"


class Facet(models.Model):
    """One dimension of the catalog the agent (and anyone filtering) can ask about, discovered
    from the items themselves by `facets.facets_refresh`: the category levels, the tags, the
    price, and every attribute key with its value type.

    A text facet keeps its values with their item counts (the most frequent `facets.MAX_VALUES`);
    a number facet keeps its range. Identifiers (an attribute with a distinct value on nearly
    every item) are not facets.
    """

    class Source(models.TextChoices):
        CATEGORY = "category"
        TAG = "tag"
        PRICE = "price"
        ATTRIBUTE = "attribute"

    class ValueType(models.TextChoices):
        TEXT = "text"
        NUMBER = "number"

    name = models.CharField(max_length=64, unique=True, help_text="'category', 'tag', 'price' or the attribute key.")
    source = models.CharField(max_length=16, choices=Source.choices)
    value_type = models.CharField(max_length=8, choices=ValueType.choices)
    values = models.JSONField(default=dict, blank=True, help_text="Text facets: value -> number of items.")
    minimum = models.FloatField(null=True, blank=True)
    maximum = models.FloatField(null=True, blank=True)
    items = models.PositiveIntegerField(default=0, help_text="Available items with a value for this facet.")
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
