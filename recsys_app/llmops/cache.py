"""The response cache: exact (prompt version, model, parameters and messages) and, where a
route sets a threshold, semantic (the closest earlier input of the same version and model,
by embedding, above the threshold)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import F
from pgvector.django import CosineDistance

from recsys_app.llmops.models import CacheEntry, PromptVersion


def cache_key(version: PromptVersion, model: str, body: dict[str, Any]) -> str:
    material = json.dumps({"version": version.pk, "model": model, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def cache_get(key: str) -> dict[str, Any] | None:
    entry = CacheEntry.objects.filter(key=key).values_list("pk", "response").first()
    if entry is None:
        return None
    CacheEntry.objects.filter(pk=entry[0]).update(hits=F("hits") + 1)
    return dict(entry[1])


def cache_get_similar(version: PromptVersion, model: str, text: str, threshold: float) -> dict[str, Any] | None:
    vector = _embed(text)
    entry = (
        CacheEntry.objects.filter(prompt_version=version, model=model, embedding__isnull=False)
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values_list("pk", "response", "distance")
        .first()
    )
    if entry is None or 1 - entry[2] < threshold:
        return None
    CacheEntry.objects.filter(pk=entry[0]).update(hits=F("hits") + 1)
    return {**entry[1], "similarity": round(1 - float(entry[2]), 4)}


def cache_put(key: str, version: PromptVersion, model: str, text: str, response: dict[str, Any], *,
              semantic: bool) -> None:  # fmt: skip
    embedding = _embed(text) if semantic else None
    CacheEntry.objects.update_or_create(
        key=key,
        defaults={"prompt_version": version, "model": model, "input_text": text, "response": response,
                  "embedding": embedding},
    )  # fmt: skip


def _embed(text: str) -> Any:
    from recsys_app.retrieval.encoder import encode

    return encode([text])[0]
