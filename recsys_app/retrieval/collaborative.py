"""Training collaborative factors with implicit and storing them in pgvector."""

from __future__ import annotations

import io
import time

import numpy as np
from django.db import connection, transaction
from threadpoolctl import threadpool_limits

from recsys_app.lib.vectors import vector_literal
from recsys_app.retrieval.interactions import InteractionMatrix, build_matrix, weighted_events
from recsys_app.retrieval.models import FACTORS, CollaborativeModel
from recsys_app.retrieval.signals import collaborative_model_activated

KEEP_MODELS = 2  # the active one and the one before it, for rollback


def collaborative_model_train(*, algorithm: str = "als", iterations: int | None = None) -> CollaborativeModel:
    """Fit on every consented interaction, store the factors, make the new model active."""
    if algorithm not in CollaborativeModel.Algorithm.values:
        raise ValueError(f"unknown algorithm '{algorithm}' (choose {', '.join(CollaborativeModel.Algorithm.values)})")
    events = weighted_events()
    if events.empty:
        raise ValueError("no interactions to train on (is there data, and consent to use it for training?)")
    matrix = build_matrix(events)
    params = _params(algorithm, iterations)
    started = time.perf_counter()
    user_factors, item_factors = _fit(algorithm, params, matrix)
    seconds = time.perf_counter() - started
    with transaction.atomic():
        model = CollaborativeModel.objects.create(
            algorithm=algorithm,
            params=params,
            users=matrix.shape[0],
            items=matrix.shape[1],
            interactions=len(events),
            train_seconds=round(seconds, 3),
        )
        _copy_factors("retrieval_itemfactor", "item_id", model.pk, matrix.item_ids, item_factors)
        _copy_factors("retrieval_userfactor", "user_id", model.pk, matrix.user_ids, user_factors)
        CollaborativeModel.objects.filter(is_active=True).update(is_active=False)
        CollaborativeModel.objects.filter(pk=model.pk).update(is_active=True)
        stale = CollaborativeModel.objects.order_by("-trained_at", "-pk").values_list("pk", flat=True)[KEEP_MODELS:]
        CollaborativeModel.objects.filter(pk__in=list(stale)).delete()
    model.refresh_from_db()
    collaborative_model_activated.send(sender=CollaborativeModel, model_id=model.pk)
    return model


def _params(algorithm: str, iterations: int | None) -> dict[str, float | int]:
    if algorithm == "als":
        return {"factors": FACTORS, "regularization": 0.05, "iterations": iterations or 15}
    # implicit's BPR adds a bias column (1 for users, the bias for items): FACTORS - 1 learned
    # factors make vectors of exactly FACTORS whose dot product is BPR's own score.
    return {"factors": FACTORS - 1, "learning_rate": 0.05, "regularization": 0.01, "iterations": iterations or 100}


def _fit(algorithm: str, params: dict[str, float | int], matrix: InteractionMatrix) -> tuple[np.ndarray, np.ndarray]:
    if algorithm == "als":
        from implicit.als import AlternatingLeastSquares as Model
    else:
        from implicit.bpr import BayesianPersonalizedRanking as Model  # type: ignore[assignment]
    model = Model(**params, random_state=7)
    with threadpool_limits(1, "blas"):
        model.fit(matrix.matrix, show_progress=False)
    user_factors, item_factors = np.asarray(model.user_factors), np.asarray(model.item_factors)
    if user_factors.shape[1] != FACTORS or item_factors.shape[1] != FACTORS:
        raise RuntimeError(f"{algorithm} produced {user_factors.shape[1]} factors, expected {FACTORS}")
    return user_factors, item_factors


def _copy_factors(table: str, column: str, model_id: int, ids: np.ndarray, vectors: np.ndarray) -> None:
    buffer = io.StringIO()
    for row_id, vector in zip(ids, vectors, strict=True):
        buffer.write(f"{model_id}\t{int(row_id)}\t{vector_literal(vector)}\n")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} (model_id, {column}, vector) FROM STDIN") as copy,
    ):
        copy.write(buffer.getvalue())
