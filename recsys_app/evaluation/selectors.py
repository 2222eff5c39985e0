"""Reads of evaluation runs for other apps' pages and APIs."""

from __future__ import annotations

from typing import Any

from recsys_app.evaluation.models import EvaluationRun


def experiment_replay_latest(*, experiment_name: str) -> dict[str, Any] | None:
    """The experiment's latest replay run: id, status, created_at, finished_at, results (None
    until it is done), error and split; None when it was never replayed."""
    run = (
        EvaluationRun.objects.filter(params__kind="replay", params__experiment=experiment_name)
        .order_by("-created_at", "-pk")
        .first()
    )
    if run is None:
        return None
    done = run.status == EvaluationRun.Status.DONE
    return {
        "id": run.pk,
        "status": run.status,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "results": run.results if done else None,
        "error": run.error,
        "split": run.split,
    }
