"""Offline evaluation runs: split the logged interactions by time and score recommenders."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from recsys_app.evaluation import metrics
from recsys_app.evaluation.models import EvaluationRun
from recsys_app.evaluation.recommenders import Ease, ImplicitALS, ImplicitBPR, Popularity, Recommender
from recsys_app.evaluation.split import STRATEGIES, TemporalSplit, temporal_split, users_array
from recsys_app.lib.vectors import parse_vector
from recsys_app.ops.tasking import task_progress
from recsys_app.retrieval.interactions import weighted_events

DEFAULT_KS = (10, 20)


def evaluation_run_create(
    *, ks: tuple[int, ...] = DEFAULT_KS, test_fraction: float = 0.2, strategy: str = "per_user", pipeline: bool = True
) -> EvaluationRun:
    """A pending run; `pipeline` adds the serving pipeline itself, evaluated on a snapshot."""
    params = {**split_params(ks=ks, test_fraction=test_fraction, strategy=strategy), "pipeline": pipeline}
    return EvaluationRun.objects.create(params=params)


def split_params(*, ks: tuple[int, ...], test_fraction: float, strategy: str) -> dict[str, Any]:
    """The k values and split of a run, checked (ValueError naming the bad one)."""
    if not ks or min(ks) < 1 or max(ks) > 1000:
        raise ValueError(f"k values must be between 1 and 1000, got {ks}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test fraction must be between 0 and 1, got {test_fraction}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown split strategy '{strategy}' (choose {', '.join(STRATEGIES)})")
    return {"ks": sorted(set(ks)), "test_fraction": test_fraction, "strategy": strategy}


def evaluation_run_execute(*, run: EvaluationRun) -> EvaluationRun:
    """Claim a pending run and execute it; a run already claimed elsewhere is left alone."""
    return run_claimed(run=run, work=_baselines_scored)


def _baselines_scored(run: EvaluationRun) -> tuple[dict[str, Any], dict[str, Any]]:
    params = run.params
    split = temporal_split(weighted_events(), test_fraction=params["test_fraction"], strategy=params["strategy"])
    results = _score_all(split, params["ks"], _baselines(items=split.train.shape[1]),
                         pipeline=params.get("pipeline", False))  # fmt: skip
    return split.describe(), results


def run_claimed(
    *, run: EvaluationRun, work: Callable[[EvaluationRun], tuple[dict[str, Any], dict[str, Any]]]
) -> EvaluationRun:
    """Claim a pending run (a conditional UPDATE: another worker's claim wins), do its work
    (split, results), and record it done, or failed with the error."""
    claimed = EvaluationRun.objects.filter(pk=run.pk, status=EvaluationRun.Status.PENDING).update(
        status=EvaluationRun.Status.RUNNING, started_at=timezone.now()
    )
    run.refresh_from_db()
    if not claimed:
        return run
    try:
        run.split, run.results = work(run)
        run.status = EvaluationRun.Status.DONE
    except Exception as exc:
        run.status, run.error = EvaluationRun.Status.FAILED, f"{type(exc).__name__}: {exc}"
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "split", "results", "error", "finished_at"])
    return run


def _baselines(*, items: int) -> list[Recommender]:
    """Every peer the pipeline is held against; EASE where its item x item inverse fits."""
    peers: list[Recommender] = [Popularity(), ImplicitALS(), ImplicitBPR()]
    return [*peers, Ease()] if items <= settings.EVALUATION_EASE_MAX_ITEMS else peers


def _score_all(
    split: TemporalSplit, ks: list[int], recommenders: list[Recommender], *, pipeline: bool = False
) -> dict[str, Any]:
    context = ListContext.of(split)
    results = {}
    steps = len(recommenders) + int(pipeline)
    for done, recommender in enumerate(recommenders):
        task_progress(done, steps, f"fitting {recommender.name}")
        started = time.perf_counter()
        recommender.fit(split.train)
        fitted = time.perf_counter() - started
        lists = [list(row) for row in recommender.recommend(context.users, max(ks))]
        scores = lists_score(lists, split, ks, context)
        scores["fit_seconds"] = round(fitted, 3)
        results[recommender.name] = scores
    if pipeline:
        task_progress(len(recommenders), steps, "serving pipeline on a snapshot")
        started = time.perf_counter()
        blend_lists, ranked_lists, ranker = _pipeline_lists(split, context.users, max(ks))
        seconds = round(time.perf_counter() - started, 3)
        results["pipeline_blend"] = {**lists_score(blend_lists, split, ks, context), "fit_seconds": seconds}
        if ranked_lists is not None:
            extra = {f"ranker_{name}": value for name, value in ranker.get("metrics", {}).items()}
            ranked_scores: dict[str, Any] = dict(lists_score(ranked_lists, split, ks, context))
            ranked_scores.update(fit_seconds=seconds, ranker_active=ranker.get("active"), **extra)
            results["pipeline"] = ranked_scores
    return results


def _pipeline_lists(
    split: TemporalSplit, users: np.ndarray, k: int
) -> tuple[list[list[int]], list[list[int]] | None, dict[str, Any]]:
    """The serving pipeline's lists with the blend and with the learned ranker trained inside
    the snapshot, as item columns of the training matrix (other items dropped: an item the
    baselines cannot name is a miss for the pipeline too)."""
    from recsys_app.lib.snapshot import copy_snapshot, run_in_snapshot, scratch_database

    assert split.train_frame is not None
    user_ids = split.train.user_ids[users]
    columns = split.train.item_index()
    with scratch_database() as url:
        copy_snapshot(url, split.train_frame)
        out = run_in_snapshot(url, "evaluation_pipeline_lists", user_ids, "--k", str(k))
    try:
        found = json.loads(out.read_text())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)

    def as_columns(by_user: dict[str, list[int]]) -> list[list[int]]:
        return [[columns[item] for item in by_user.get(str(int(user)), []) if item in columns] for user in user_ids]

    ranked = as_columns(found["ranked"]) if "ranked" in found else None
    return as_columns(found["blend"]), ranked, found.get("ranker", {})


class ListContext:
    """What list-level metrics need, computed once per run."""

    def __init__(self, users: np.ndarray, popularity: np.ndarray, vectors: np.ndarray, known: np.ndarray) -> None:
        self.users, self.popularity, self.vectors, self.known = users, popularity, vectors, known

    @classmethod
    def of(cls, split: TemporalSplit) -> ListContext:
        popularity = np.asarray((split.train.matrix > 0).sum(axis=0)).ravel().astype(np.float64)
        vectors, known = _item_vectors(split.train.item_ids)
        return cls(users_array(split.relevant), popularity, vectors, known)


def lists_score(lists: list[list[int]], split: TemporalSplit, ks: list[int], context: ListContext) -> dict[str, float]:
    scores: dict[str, float] = {}
    relevant = [split.relevant[int(u)] for u in context.users]
    n_users, n_items = split.train.shape
    for k in ks:
        top = [list(row[:k]) for row in lists]
        for name, fn in (
            ("recall", metrics.recall_at_k),
            ("ndcg", metrics.ndcg_at_k),
            ("map", metrics.average_precision_at_k),
            ("hit_rate", metrics.hit_rate_at_k),
        ):
            scores[f"{name}@{k}"] = round(
                float(np.mean([fn(r, rel, k) for r, rel in zip(top, relevant, strict=True)])), 5
            )
        scores[f"coverage@{k}"] = round(metrics.catalog_coverage(top, n_items), 5)
        scores[f"diversity@{k}"] = round(metrics.intra_list_diversity(top, context.vectors, context.known), 5)
        scores[f"novelty@{k}"] = round(metrics.novelty(top, context.popularity, n_users), 5)
    return scores


def _item_vectors(item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text embeddings of the items (for diversity); rows of items without one are marked unknown."""
    from recsys_app.retrieval.encoder import DIMENSIONS

    vectors = np.zeros((len(item_ids), DIMENSIONS), dtype=np.float32)
    known = np.zeros(len(item_ids), dtype=bool)
    position = {int(item): i for i, item in enumerate(item_ids)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT item_id, vector::text FROM retrieval_itemembedding WHERE model_name = %s AND item_id = ANY(%s)",
            [settings.EMBEDDING_MODEL, [int(i) for i in item_ids]],
        )
        for item_id, text in cursor.fetchall():
            row = position[item_id]
            vectors[row] = parse_vector(text)
            known[row] = True
    return vectors, known
