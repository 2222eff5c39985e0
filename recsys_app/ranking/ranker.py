"""The learned ranker: LightGBM LambdaRank over candidate features.

Training labels come from time: a snapshot holds each user's earlier events, the candidate
pool is generated there exactly as serving does, and a candidate is positive when the user
liked it in the held-out later period. A model is activated only when it beats the blend it
would replace on validation users; until one exists serving uses the blend (the fallback).
"""

from __future__ import annotations

import shutil
import time
from functools import lru_cache
from typing import Any

import numpy as np

from recsys_app.evaluation.metrics import ndcg_at_k
from recsys_app.ranking.blend import Scored
from recsys_app.ranking.features import FEATURES, feature_matrix
from recsys_app.ranking.models import RankerModel
from recsys_app.retrieval.models import CollaborativeModel
from recsys_app.retrieval.stats import data_now

MIN_USERS = 10
PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "n_estimators": 300,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 50,
    "random_state": 7,
    "verbose": -1,
}


def rank_pool(user_id: int | None, pool: list[Scored]) -> list[Scored]:
    """Reorder a pool by the active ranker's scores (scaled to [0, 1]); unchanged without one."""
    active = RankerModel.objects.filter(is_active=True).values_list("pk", "features").first()
    if active is None or active[1] != FEATURES or not pool:
        return pool
    model_id = CollaborativeModel.objects.filter(is_active=True).values_list("pk", flat=True).first()
    features = feature_matrix(user_id, pool, now_epoch=data_now().timestamp(), model_id=model_id)
    scores = np.asarray(_booster(active[0]).predict(features))
    # The ranker decides the order; the scores keep the blend's distribution (the i-th ranked
    # item gets the i-th best blend score), so diversity and boosts trade off as they were tuned.
    order = np.argsort(-scores, kind="stable")
    levels = sorted((entry.score for entry in pool), reverse=True)
    ranked = [pool[i] for i in order]
    for entry, level in zip(ranked, levels, strict=True):
        entry.score = level
    return ranked


@lru_cache(maxsize=4)
def _booster(ranker_id: int) -> Any:
    import lightgbm

    text = RankerModel.objects.values_list("booster", flat=True).get(pk=ranker_id)
    return lightgbm.Booster(model_str=text)


def ranker_train(*, max_users: int = 2000, holdout: float = 0.2, seed: int = 7) -> RankerModel:
    """Build examples on a snapshot, fit, compare with the blend on validation users, store."""
    from recsys_app.evaluation.split import temporal_split
    from recsys_app.retrieval.interactions import weighted_events

    started = time.perf_counter()
    split = temporal_split(weighted_events(), test_fraction=holdout)
    rng = np.random.default_rng(seed)
    rows = np.array(sorted(split.relevant), dtype=np.int64)
    if len(rows) < MIN_USERS:
        raise ValueError(f"only {len(rows)} users have a held-out positive; need {MIN_USERS} to train a ranker")
    rows = rng.permutation(rows)[:max_users]
    examples = _examples(split, split.train.user_ids[rows])
    labels = _labels(split, examples)
    return _fit_and_store(examples, labels, rng, time.perf_counter() - started)


def _examples(split: Any, user_ids: np.ndarray) -> dict[str, np.ndarray]:
    from recsys_app.lib.snapshot import copy_snapshot, run_in_snapshot, scratch_database

    with scratch_database() as url:
        copy_snapshot(url, split.train_frame)
        out = run_in_snapshot(url, "ranker_examples", user_ids)
    try:
        with np.load(out.with_suffix(".npz")) as data:
            return {name: data[name] for name in data.files}
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def _labels(split: Any, examples: dict[str, np.ndarray]) -> np.ndarray:
    rows, columns = split.train.user_index(), split.train.item_index()
    labels = np.zeros(len(examples["item_ids"]), dtype=np.int32)
    for i, (user, item) in enumerate(zip(examples["user_ids"], examples["item_ids"], strict=True)):
        row, column = rows.get(int(user)), columns.get(int(item))
        if row is not None and column is not None and column in split.relevant.get(row, ()):
            labels[i] = 1
    return labels


def _fit_and_store(examples: dict[str, np.ndarray], labels: np.ndarray, rng: Any, seconds: float) -> RankerModel:
    import lightgbm

    users = examples["user_ids"]
    order = np.unique(users)
    useful = [u for u in order if labels[users == u].any()]
    if len(useful) < MIN_USERS:
        raise ValueError(f"only {len(useful)} users have a held-out positive among their candidates; need {MIN_USERS}")
    valid_users = set(rng.permutation(useful)[: max(len(useful) // 5, 2)].tolist())
    train_mask = np.isin(users, list(set(useful) - valid_users))
    valid_mask = np.isin(users, list(valid_users))
    model = lightgbm.LGBMRanker(**PARAMS)
    model.fit(examples["features"][train_mask], labels[train_mask], group=_groups(users[train_mask]))
    metrics = {
        "ranker_ndcg@10": _ndcg(
            np.asarray(model.predict(examples["features"][valid_mask])), labels[valid_mask], users[valid_mask]
        ),
        "blend_ndcg@10": _ndcg(examples["blend"][valid_mask], labels[valid_mask], users[valid_mask]),
        "validation_users": len(valid_users),
    }
    return _store(model, metrics, len(useful), int(train_mask.sum()), seconds)


def _groups(users: np.ndarray) -> list[int]:
    """Sizes of consecutive runs of the same user (examples arrive grouped by user)."""
    _, starts, counts = np.unique(users, return_index=True, return_counts=True)
    return [int(c) for _, c in sorted(zip(starts, counts, strict=True))]


def _ndcg(scores: np.ndarray, labels: np.ndarray, users: np.ndarray) -> float:
    values = []
    for user in np.unique(users):
        mask = users == user
        order = np.argsort(-scores[mask], kind="stable")
        relevant = set(np.flatnonzero(labels[mask]).tolist())
        values.append(ndcg_at_k(order.tolist(), relevant, 10))
    return round(float(np.mean(values)), 5) if values else 0.0


def _store(model: Any, metrics: dict[str, Any], users: int, examples: int, seconds: float) -> RankerModel:
    from django.db import transaction

    better = metrics["ranker_ndcg@10"] >= metrics["blend_ndcg@10"]
    with transaction.atomic():
        if better:
            RankerModel.objects.filter(is_active=True).update(is_active=False)
        ranker = RankerModel.objects.create(
            booster=model.booster_.model_to_string(), features=FEATURES, params=PARAMS, metrics=metrics,
            users=users, examples=examples, train_seconds=round(seconds, 2), is_active=better,
        )  # fmt: skip
    return ranker
