"""Internal: run inside a ranker-training snapshot (see ranking/ranker.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandParser

from recsys_app.catalog.models import Interaction
from recsys_app.ranking.candidates import RERANK_POOL, candidate_pool
from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.features import FEATURES, feature_matrix
from recsys_app.retrieval.collaborative import collaborative_model_train
from recsys_app.retrieval.sources import Query
from recsys_app.retrieval.stats import data_now, item_neighbors_refresh, item_stats_refresh
from recsys_app.retrieval.user_vectors import user_vectors_compute


class Command(BaseCommand):
    help = "Build serving state from this database's events and write candidate features per user (npz)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("users", type=Path)
        parser.add_argument("out", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        users = json.loads(options["users"].read_text())
        model_id = collaborative_model_train().pk
        item_stats_refresh()
        item_neighbors_refresh()
        for start in range(0, len(users), 500):
            user_vectors_compute(user_ids=users[start : start + 500])
        config = DEFAULT_SURFACES["home"].model_copy(update={"ranker": False})
        now = data_now().timestamp()
        consumed = _consumed(users)
        parts: dict[str, list[np.ndarray]] = {"user_ids": [], "item_ids": [], "features": [], "blend": []}
        for user_id in users:
            pool, _ = candidate_pool(Query(user_id=user_id, exclude=consumed.get(user_id, set())), config)
            pool = pool[:RERANK_POOL]
            if not pool:
                continue
            parts["user_ids"].append(np.full(len(pool), user_id, dtype=np.int64))
            parts["item_ids"].append(np.array([e.item_id for e in pool], dtype=np.int64))
            parts["features"].append(feature_matrix(user_id, pool, now_epoch=now, model_id=model_id))
            parts["blend"].append(np.array([e.score for e in pool], dtype=np.float32))
        arrays: dict[str, Any] = {
            name: np.concatenate(values) if values else np.zeros((0, len(FEATURES)) if name == "features" else 0)
            for name, values in parts.items()
        }
        np.savez(options["out"].with_suffix(".npz"), **arrays)


def _consumed(users: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for user_id, item_id in Interaction.objects.filter(user_id__in=users).values_list("user_id", "item_id"):
        out.setdefault(user_id, set()).add(item_id)
    return out
