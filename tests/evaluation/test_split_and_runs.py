from __future__ import annotations

import os
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from recsys_app.catalog import events
from recsys_app.evaluation.models import EvaluationRun
from recsys_app.evaluation.services import evaluation_run_create, evaluation_run_execute
from recsys_app.evaluation.split import temporal_split
from tests.factories import make_catalog


def _events(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "ts"])


def test_per_user_split_holds_out_each_users_latest_new_likes() -> None:
    sequence = [10, 11, 12, 13, 14, 15, 16, 10, 17, 18]  # the last three are held out
    rows = [(1, item, 4.0, float(t)) for t, item in enumerate(sequence)]
    rows += [(2, item, 4.0, 1.0) for item in (16, 17, 18)]  # too few events to be tested
    split = temporal_split(_events(rows), test_fraction=0.3)
    items = split.train.item_ids
    assert split.train.user_ids.tolist() == [1, 2]
    # item 10 was seen before the holdout: re-consumption is not a hit to predict
    assert {int(items[c]) for c in split.relevant[0]} == {17, 18}
    assert 1 not in split.relevant
    assert split.describe()["strategy"] == "per_user" and split.test_events == 3


def test_global_split_never_trains_on_the_future() -> None:
    rows = [(u, i, 1.0, float(t)) for t, (u, i) in enumerate([(1, 1), (2, 1), (1, 2), (2, 2), (1, 3), (2, 3)])]
    split = temporal_split(_events(rows), test_fraction=0.34, strategy="global")
    assert split.cutoff is not None and split.train_events == 4 and split.test_events == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"test_fraction": 1.5}, "between 0 and 1"), ({"strategy": "random"}, "unknown split strategy")],
)
def test_bad_split_parameters_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        temporal_split(_events([(1, 1, 1.0, 0.0)]), **kwargs)


def _seed_interactions(users: int = 30, items: int = 12) -> None:
    make_catalog(items=items, users=users)
    rng = np.random.default_rng(3)
    rows = []
    for u in range(1, users + 1):
        group = u % 2  # two tastes: odd items or even items
        liked = [i for i in range(1, items + 1) if i % 2 == group]
        for step, item in enumerate(rng.permutation(liked)[:5]):
            rows.append(
                {"user_id": f"u{u}", "item_id": f"i{item}", "type": "like", "timestamp": 1_700_000_000 + u * 100 + step}
            )
    frame, _ = events.frame_from_records(rows)
    events.write(events.validate(frame, known_types=events.known_types()))


def test_evaluation_run_scores_every_baseline(db: None) -> None:
    _seed_interactions()
    run = evaluation_run_execute(run=evaluation_run_create(ks=(5,), pipeline=False))
    assert run.status == "done", run.error
    assert set(run.results) == {"popularity", "als", "bpr", "ease"}
    for scores in run.results.values():
        for name in ("recall@5", "ndcg@5", "map@5", "hit_rate@5", "coverage@5", "diversity@5"):
            assert 0.0 <= scores[name] <= 1.0
        assert scores["novelty@5"] >= 0.0
    assert run.split["test_users"] == 30
    again = evaluation_run_execute(run=run)
    assert again.finished_at == run.finished_at, "a finished run is not executed twice"


def test_evaluation_without_data_fails_with_a_reason(db: None) -> None:
    run = evaluation_run_execute(run=evaluation_run_create())
    assert run.status == "failed" and "no interactions to split" in run.error


def test_evaluate_offline_command(db: None) -> None:
    _seed_interactions()
    out = StringIO()
    call_command("evaluate_offline", "--k", "5", "--baselines-only", stdout=out)
    assert "als" in out.getvalue() and "ndcg@5" in out.getvalue()
    with pytest.raises(CommandError, match="k values"):
        call_command("evaluate_offline", "--k", "0")
    assert EvaluationRun.objects.count() == 1


@pytest.mark.slow
def test_the_serving_pipeline_is_scored_on_a_snapshot_without_the_future(db: None) -> None:
    _seed_interactions()
    run = evaluation_run_execute(run=evaluation_run_create(ks=(3,)))
    assert run.status == "done", run.error
    pipeline = run.results["pipeline"]
    assert 0.0 < pipeline["hit_rate@3"] <= 1.0, "two clear tastes: the pipeline finds some held-out likes"
    assert pipeline["coverage@3"] > 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", [f"recsys_snapshot_{os.getpid()}_%"])
        assert cursor.fetchone() == (0,), "the scratch database is dropped"
