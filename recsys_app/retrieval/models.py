"""Vectors for retrieval, stored in pgvector next to the rows they describe."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from recsys_app.catalog.models import EndUser, Item
from recsys_app.retrieval.encoder import DIMENSIONS

FACTORS = 64  # collaborative factor size; fixed so that one HNSW index serves every model


class ItemEmbedding(models.Model):
    """An item's text embedding under one model; recomputed when the item's content hash changes.

    Keyed by (item, model_name): a new model is computed beside the old one and switched to
    by setting, so re-embedding needs no downtime.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="embeddings")
    model_name = models.CharField(max_length=100)
    vector = VectorField(dimensions=DIMENSIONS)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "model_name"], name="embedding_item_model_unique")]
        indexes = [
            # m=24, ef_construction=200: recall@50 0.96 at ef_search 200 on 100k items, where
            # m=16, ef_construction=64 reached 0.82 (bench/hnsw_bench.py).
            HnswIndex(
                name="embedding_vector_hnsw",
                fields=["vector"],
                m=24,
                ef_construction=200,
                opclasses=["vector_cosine_ops"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_id} @ {self.model_name}"


class CollaborativeModel(models.Model):
    """One trained matrix factorisation (implicit's ALS or BPR) and where its factors came from."""

    class Algorithm(models.TextChoices):
        ALS = "als"
        BPR = "bpr"

    algorithm = models.CharField(max_length=8, choices=Algorithm.choices)
    params = models.JSONField(default=dict)
    users = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    interactions = models.PositiveIntegerField(default=0)
    train_seconds = models.FloatField(default=0.0)
    is_active = models.BooleanField(default=False, help_text="The model serving reads; one at a time.")
    trained_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-trained_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_collaborative_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} #{self.pk}"


class ItemFactor(models.Model):
    model = models.ForeignKey(CollaborativeModel, on_delete=models.CASCADE, related_name="item_factors")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    vector = VectorField(dimensions=FACTORS)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "item"], name="item_factor_unique")]
        indexes = [
            HnswIndex(name="item_factor_hnsw", fields=["vector"], m=16, ef_construction=64, opclasses=["vector_ip_ops"])
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} in {self.model_id}"


class UserFactor(models.Model):
    model = models.ForeignKey(CollaborativeModel, on_delete=models.CASCADE, related_name="user_factors")
    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="+")
    vector = VectorField(dimensions=FACTORS)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "user"], name="user_factor_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} in {self.model_id}"


class UserVector(models.Model):
    """A user's taste in the item text-embedding space: recency-weighted positive items, minus
    negative ones. Refreshed nearline from new events."""

    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="text_vectors")
    model_name = models.CharField(max_length=100)
    vector = VectorField(dimensions=DIMENSIONS)
    events_used = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "model_name"], name="user_vector_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.model_name}"


class ItemStats(models.Model):
    """Popularity signals per item, recomputed periodically from interactions."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, primary_key=True, related_name="stats")
    popularity = models.FloatField(default=0.0, help_text="Users with a positive interaction, all time.")
    trending = models.FloatField(default=0.0, help_text="Weighted events, halving every TRENDING_HALF_LIFE.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "item stats"
        indexes = [
            models.Index(fields=["-trending"], name="itemstats_trending"),
            models.Index(fields=["-popularity"], name="itemstats_popularity"),
        ]

    def __str__(self) -> str:
        return f"stats of {self.item_id}"


class ItemNeighbor(models.Model):
    """Item-to-item co-occurrence: users who liked `item` also liked `neighbor` (top-N kept)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    neighbor = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "neighbor"], name="item_neighbor_unique")]

    def __str__(self) -> str:
        return f"{self.item_id} ~ {self.neighbor_id}"


class InterestProfile(models.Model):
    """A short written summary of a user's interests, generated from their history (curation
    writes it, only with the user's consent), and its embedding: one more taste vector."""

    user = models.OneToOneField(EndUser, on_delete=models.CASCADE, primary_key=True, related_name="interest_profile")
    text = models.TextField()
    model_name = models.CharField(max_length=100, help_text="The embedding model of `vector`.")
    vector = VectorField(dimensions=DIMENSIONS)
    events_seen = models.PositiveIntegerField(help_text="The user's interactions when it was written.")
    writer = models.CharField(max_length=16, help_text="'model' or 'template' (the deterministic fallback).")
    provenance = models.JSONField(default=dict, blank=True, help_text="Prompt version, model and trace.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class CuratedEntry(models.Model):
    """One item of a published list (a reviewed collection), as serving reads it: the
    `collections` candidate source offers these items to the users in the list's audience
    while the list is scheduled. Curation writes these rows on publish and deletes them on
    unpublish; `list_key` names the owner (e.g. 'collection:12')."""

    list_key = models.CharField(max_length=64, db_index=True)
    list_title = models.CharField(max_length=200, help_text="The list's title, for explanations.")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    audience_attributes = models.JSONField(default=dict, blank=True, help_text="Users whose attributes contain these.")
    audience_categories = models.JSONField(
        default=list, blank=True, help_text="Users with a liked item in one of these top-level categories."
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    provenance = models.JSONField(
        default=dict, blank=True, help_text="What wrote the list: draft, prompt, version, model (for attribution)."
    )

    class Meta:
        verbose_name_plural = "curated entries"
        constraints = [models.UniqueConstraint(fields=["list_key", "item"], name="curated_entry_unique")]

    def __str__(self) -> str:
        return f"{self.list_key}#{self.position}"
