"""Pre-launch replay of an experiment: every variant's lists for the same test users, served
from one snapshot of the training period, scored against what those users liked afterwards.

The snapshot's child process (`evaluation_replay_lists`) builds the serving state once and
serves each variant through the ordinary pipeline with the variant's full configuration, so
variants differ only in their configuration, never in the state they read.
"""

from __future__ import annotations

import json
import shutil
import time
from typing import Any

import numpy as np

from recsys_app.evaluation.models import EvaluationRun
from recsys_app.evaluation.services import DEFAULT_KS, ListContext, lists_score, run_claimed, split_params
from recsys_app.evaluation.split import TemporalSplit, temporal_split, users_array
from recsys_app.lib.errors import ApiError
from recsys_app.ops.tasking import task_progress
from recsys_app.ranking.experiments import assign_variant
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.surfaces import surface_config
from recsys_app.retrieval.interactions import weighted_events
from recsys_app.safety.fairness import gini

KIND = "replay"
TASK_NAME = "recsys_app.evaluation.tasks.experiment_replay_task"
REPLAYABLE = (Experiment.Status.DRAFT, Experiment.Status.RUNNING)


def experiment_replay_create(
    *,
    experiment: Experiment | str,
    by: Any = None,
    variants: list[str] | None = None,
    ks: tuple[int, ...] = DEFAULT_KS,
    test_fraction: float = 0.2,
    strategy: str = "per_user",
    max_users: int = 1000,
    time_budget_s: float = 1800.0,
) -> EvaluationRun:
    """A pending replay run of the experiment's variants: all in the experiment's order, or the
    named ones in the order given; the first is the control. ValueError naming what is wrong."""
    experiment = _replayable(experiment)
    if max_users < 1 or time_budget_s <= 0:
        raise ValueError(f"max_users and time_budget_s must be positive, got {max_users} and {time_budget_s}")
    params = {
        "kind": KIND,
        "experiment": experiment.name,
        "surface": experiment.surface,
        "variants": variant_configs(experiment=experiment, names=variants),
        **split_params(ks=ks, test_fraction=test_fraction, strategy=strategy),
        "max_users": max_users,
        "time_budget_s": time_budget_s,
        "requested_by": getattr(by, "pk", None),
    }
    return EvaluationRun.objects.create(params=params)


def experiment_replay_start(*, experiment: Experiment | str, by: Any = None, **options: Any) -> EvaluationRun:
    """Create the run and queue it for a worker (on commit, with a `queued` job row)."""
    from recsys_app.ops.services import job_enqueue

    run = experiment_replay_create(experiment=experiment, by=by, **options)
    job_enqueue(task_name=TASK_NAME, kwargs={"run_id": run.pk}, by=by)
    return run


def _replayable(experiment: Experiment | str) -> Experiment:
    if isinstance(experiment, str):
        found = Experiment.objects.filter(name=experiment).first()
        if found is None:
            raise ValueError(f"experiment: no experiment named '{experiment}'")
        experiment = found
    if experiment.status not in REPLAYABLE:
        raise ValueError(f"experiment: '{experiment.name}' is {experiment.status}; only draft or running ones replay")
    return experiment


def variant_configs(*, experiment: Experiment, names: list[str] | None = None) -> dict[str, Any]:
    """{variant name: its full surface configuration as JSON}, in the experiment's order."""
    try:
        base = surface_config(experiment.surface)
    except ApiError as exc:
        raise ValueError(f"experiment: {exc.detail}") from exc
    chosen = [v["name"] for v in experiment.variants] if names is None else list(dict.fromkeys(names))
    if not chosen:
        raise ValueError("variants: name at least one variant")
    known = {v["name"] for v in experiment.variants}
    configs = {}
    for name in chosen:
        try:
            config = assign_variant(experiment, name, base).config
        except ValueError as exc:  # pydantic's ValidationError included
            if name not in known:
                raise  # it names the experiment's variants
            raise ValueError(f"variant '{name}' config: {exc}") from exc
        if config is None:
            raise ValueError(f"experiment: '{experiment.surface}' has no serving configuration to replay")
        configs[name] = config.model_dump(mode="json")
    return configs


def experiment_replay_execute(*, run: EvaluationRun) -> EvaluationRun:
    """Claim a pending replay run and execute it; a run already claimed elsewhere is left alone."""
    return run_claimed(run=run, work=lambda claimed: _replay(claimed.params))


def _replay(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    deadline = time.monotonic() + float(params["time_budget_s"])
    task_progress(0, 4, "splitting the history by time")
    split = temporal_split(weighted_events(), test_fraction=params["test_fraction"], strategy=params["strategy"])
    users = _test_users(split, int(params["max_users"]))
    task_progress(1, 4, f"serving {len(params['variants'])} variants to {len(users)} users on a snapshot")
    found = _snapshot_lists(split, users, params, budget_s=max(deadline - time.monotonic(), 0.0))
    task_progress(3, 4, "scoring")
    index = split.train.user_index()
    rows = np.array([index[user] for user in found["users"]], dtype=np.int64)  # the users served
    context = ListContext.of(split)
    context = ListContext(rows, context.popularity, context.vectors, context.known)
    scores = {name: _variant_scores(lists, split, params["ks"], context) for name, lists in found["lists"].items()}
    described = {**split.describe(), "replayed_users": len(rows), "budget_exhausted": found["budget_exhausted"]}
    if found["ranker"] is not None:
        described["ranker"] = found["ranker"]
    return described, replay_results(scores)


def _test_users(split: TemporalSplit, max_users: int) -> np.ndarray:
    """Matrix rows of the test users, at most `max_users` of them (a fixed random sample)."""
    users = users_array(split.relevant)
    if not len(users):
        raise ValueError("no test users: nobody liked anything new after the cutoff")
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(7).choice(users, size=max_users, replace=False))
    return users


def _snapshot_lists(
    split: TemporalSplit, users: np.ndarray, params: dict[str, Any], *, budget_s: float
) -> dict[str, Any]:
    """Each variant's lists from the child process, as item columns of the training matrix
    (other items dropped: an item the split cannot name is a miss)."""
    from recsys_app.lib.snapshot import copy_snapshot, run_in_snapshot, scratch_database

    assert split.train_frame is not None
    options = ["--k", str(max(params["ks"])), "--variants", json.dumps(params["variants"]), "--budget-s", str(budget_s)]
    with scratch_database() as url:
        copy_snapshot(url, split.train_frame)
        task_progress(2, 4, "building the serving state and serving each variant")
        out = run_in_snapshot(url, "evaluation_replay_lists", split.train.user_ids[users], *options)
    try:
        found = json.loads(out.read_text())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    columns = split.train.item_index()
    found["lists"] = {
        name: [[columns[i] for i in by_user[str(user)] if i in columns] for user in found["users"]]
        for name, by_user in found["lists"].items()
    }
    return found


def _variant_scores(
    lists: list[list[int]], split: TemporalSplit, ks: list[int], context: ListContext
) -> dict[str, float]:
    """The evaluation's list metrics, plus how concentrated exposure is: the Gini coefficient of
    appearances in the top k over the training catalog (0 even, towards 1 a few items get all)."""
    scores: dict[str, float] = lists_score(lists, split, ks, context)
    n_items = split.train.shape[1]
    for k in ks:
        counts = np.bincount([item for row in lists for item in row[:k]], minlength=n_items)
        scores[f"exposure_gini@{k}"] = round(gini(counts), 5)
    return scores


def replay_results(scores: dict[str, dict[str, float]]) -> dict[str, Any]:
    """{"variants": scores, "control": the first variant, "delta": {other variant: its scores
    minus the control's}}."""
    control = next(iter(scores))
    delta = {
        name: {metric: round(value - scores[control][metric], 5) for metric, value in values.items()}
        for name, values in scores.items()
        if name != control
    }
    return {"variants": scores, "control": control, "delta": delta}
