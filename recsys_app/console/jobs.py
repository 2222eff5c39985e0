"""The jobs an operator starts from the console, and how each is prepared before it is queued."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recsys_app.ops.models import TaskRun
from recsys_app.ops.services import job_enqueue


def _evaluation_run() -> dict[str, Any]:
    from recsys_app.evaluation.services import evaluation_run_create

    return {"run_id": evaluation_run_create().pk}


@dataclass(frozen=True)
class Job:
    key: str
    label: str
    task_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[], dict[str, Any]] | None = None  # rows the task needs, written before it is sent


JOBS = {
    job.key: job
    for job in (
        Job("embeddings", "Embed new and changed items", "recsys_app.retrieval.tasks.item_embeddings_refresh_task"),
        Job("stats", "Refresh item popularity", "recsys_app.retrieval.tasks.item_stats_refresh_task"),
        Job("neighbours", "Refresh item neighbours", "recsys_app.retrieval.tasks.item_neighbors_refresh_task"),
        Job("collaborative", "Train the collaborative model",
            "recsys_app.retrieval.tasks.collaborative_model_train_task"),
        Job("ranker", "Train the ranker", "recsys_app.ranking.tasks.ranker_train_task"),
        Job("evaluation", "Offline evaluation against baselines", "recsys_app.evaluation.tasks.evaluation_run_task",
            prepare=_evaluation_run),
        Job("curation", "Draft demo collections and enrichments", "curation.tasks.curation_demo_task"),
        Job("profiles", "Refresh interest profiles", "curation.tasks.interest_profiles_refresh_task"),
        Job("enrichment", "Enrich new items with thin text (a budgeted job)",
            "curation.tasks.enrichment_new_items_task"),
        Job("exposure", "Compute exposure fairness", "recsys_app.safety.tasks.exposure_daily_task"),
        Job("retention", "Enforce retention periods", "recsys_app.safety.tasks.retention_enforce_task"),
    )
}  # fmt: skip


def job_start(*, key: str, by: Any) -> TaskRun:
    job = JOBS.get(key)
    if job is None:
        raise ValueError(f"job: unknown job '{key}' (known: {', '.join(JOBS)})")
    kwargs = {**job.kwargs, **(job.prepare() if job.prepare else {})}
    return job_enqueue(task_name=job.task_name, kwargs=kwargs, by=by)
