"""Vectors for retrieval, stored in pgvector next to the rows they describe."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from recsys_app.catalog.models import Item
from recsys_app.retrieval.encoder import DIMENSIONS


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
            HnswIndex(
                name="embedding_vector_hnsw",
                fields=["vector"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_id} @ {self.model_name}"
