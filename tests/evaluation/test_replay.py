from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.urls import reverse

from recsys_app.catalog import events
from recsys_app.evaluation.models import EvaluationRun
from recsys_app.evaluation.replay import experiment_replay_create, experiment_replay_execute, experiment_replay_start
from recsys_app.evaluation.selectors import experiment_replay_latest
from recsys_app.evaluation.tasks import experiment_replay_task
from recsys_app.ops.models import TaskRun
from recsys_app.ranking.models import Experiment
from tests.factories import make_catalog

FRESH_ONLY = {"sources": {"fresh": {"weight": 1.0}}}  # the same newest items for everyone
PERSONAL = {"sources": {"collaborative": {"weight": 1.0}, "covisit": {"weight": 0.8}}}


def _two_tastes(users: int = 40, items: int = 24) -> None:
    """Odd users like odd items, even users even ones: five each, one a step."""
    make_catalog(items=items, users=users)
    rng = np.random.default_rng(3)
    rows = []
    for u in range(1, users + 1):
        liked = [i for i in range(1, items + 1) if i % 2 == u % 2]
        for step, item in enumerate(rng.permutation(liked)[:5]):
            rows.append(
                {"user_id": f"u{u}", "item_id": f"i{item}", "type": "like", "timestamp": 1_700_000_000 + u * 100 + step}
            )
    frame, _ = events.frame_from_records(rows)
    events.write(events.validate(frame, known_types=events.known_types()))


def _experiment(*variants: tuple[str, dict[str, Any]], status: str = "draft") -> Experiment:
    return Experiment.objects.create(
        name="home-sources",
        surface="home",
        status=status,
        variants=[{"name": name, "weight": 1, "config": config} for name, config in variants],
    )


def test_replay_orders_variants_by_quality_and_identical_variants_tie(db: None) -> None:
    _two_tastes()
    experiment = _experiment(("fresh", FRESH_ONLY), ("personal", PERSONAL), ("personal_again", PERSONAL))
    assert experiment_replay_latest(experiment_name="home-sources") is None
    run = experiment_replay_create(experiment=experiment, max_users=30)
    assert run.params["kind"] == "replay" and list(run.params["variants"]) == ["fresh", "personal", "personal_again"]
    assert set(run.params["variants"]["fresh"]["sources"]) == {"fresh"}, "the variant's full configuration"
    assert experiment_replay_latest(experiment_name="home-sources")["results"] is None  # type: ignore[index]

    run = experiment_replay_execute(run=run)

    assert run.status == "done", run.error
    assert run.split["replayed_users"] == 30 and not run.split["budget_exhausted"]
    results = run.results
    assert set(results) == {"variants", "control", "delta"} and results["control"] == "fresh"
    fresh, personal = results["variants"]["fresh"], results["variants"]["personal"]
    assert personal["ndcg@10"] > fresh["ndcg@10"] + 0.1, results
    assert personal["recall@20"] >= fresh["recall@20"]
    assert fresh["exposure_gini@10"] > personal["exposure_gini@10"], "one list for everyone concentrates exposure"
    assert results["variants"]["personal_again"] == personal, "same configuration, same state: same lists"
    assert set(results["delta"]) == {"personal", "personal_again"}
    assert results["delta"]["personal"]["ndcg@10"] == pytest.approx(personal["ndcg@10"] - fresh["ndcg@10"])
    for scores in results["variants"].values():
        assert 0.0 < scores["coverage@10"] <= 1.0 and 0.0 <= scores["exposure_gini@10"] <= 1.0
    latest = experiment_replay_latest(experiment_name="home-sources")
    assert latest is not None and latest["id"] == run.pk and latest["status"] == "done"
    assert latest["results"] == results and latest["finished_at"] == run.finished_at


def test_replay_stops_serving_new_users_when_the_budget_runs_out(db: None) -> None:
    _two_tastes(users=20)
    experiment = _experiment(("fresh", FRESH_ONLY), ("personal", PERSONAL))
    run = experiment_replay_execute(run=experiment_replay_create(experiment=experiment, time_budget_s=0.001))
    assert run.status == "done", run.error
    # The first user is always served, by every variant, so the variants stay comparable.
    assert run.split["replayed_users"] == 1 and run.split["budget_exhausted"]
    assert set(run.results["variants"]) == {"fresh", "personal"}


def test_replay_without_history_fails_with_a_reason(db: None) -> None:
    run = experiment_replay_execute(run=experiment_replay_create(experiment=_experiment(("a", {}), ("b", {}))))
    assert run.status == "failed" and "no interactions to split" in run.error
    assert experiment_replay_latest(experiment_name="home-sources")["status"] == "failed"  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variants": ["control", "nope"]}, r"'nope' is not a variant of home-sources \(control, fresh\)"),
        ({"experiment": "missing"}, "no experiment named 'missing'"),
        ({"status": "stopped"}, "'home-sources' is stopped"),
        ({"max_users": 0}, "must be positive"),
        ({"ks": (0,)}, "k values"),
    ],
)
def test_bad_replays_are_refused_naming_the_problem(db: None, kwargs: dict[str, Any], message: str) -> None:
    experiment = _experiment(("control", {}), ("fresh", FRESH_ONLY), status=kwargs.pop("status", "draft"))
    kwargs.setdefault("experiment", experiment)
    with pytest.raises(ValueError, match=message):
        experiment_replay_create(**kwargs)
    assert not EvaluationRun.objects.exists()


def test_replay_start_queues_the_task_with_a_job_row(db: None, operator: Any) -> None:
    experiment = _experiment(("control", {}), ("fresh", FRESH_ONLY), status="running")
    run = experiment_replay_start(experiment=experiment, by=operator)
    job = TaskRun.objects.get()
    assert job.task_name == "recsys_app.evaluation.tasks.experiment_replay_task"
    assert job.kwargs == {"run_id": run.pk} and job.status == "queued" and job.requested_by_id == operator.pk
    assert run.params["requested_by"] == operator.pk


def test_replay_task_returns_quietly_when_the_run_is_gone(db: None) -> None:
    assert experiment_replay_task(run_id=999_999) == {"run": 999_999, "status": "gone"}


def test_the_runs_admin_shows_a_replay_by_variant(db: None, operator: Any, client: Any) -> None:
    scores = {"a": {"ndcg@10": 0.3}, "b": {"ndcg@10": 0.5}}
    run = EvaluationRun.objects.create(
        status="done",
        params={"kind": "replay", "experiment": "home-sources"},
        results={"variants": scores, "control": "a", "delta": {"b": {"ndcg@10": 0.2}}},
    )
    client.force_login(operator)
    listing = client.get(reverse("admin:evaluation_evaluationrun_changelist"))
    assert listing.status_code == 200 and "replay of home-sources: a 0.3, b 0.5" in listing.content.decode()
    page = client.get(reverse("admin:evaluation_evaluationrun_change", args=[run.pk])).content.decode()
    assert "Difference from the control (a)" in page and "<th>variant</th>" in page
