"""Celery entry points of curation: thin, ids in, one service call each."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import shared_task
from django.db import transaction

from recsys_app.ops.tasking import RecordedTask


@shared_task(base=RecordedTask, bind=True, soft_time_limit=600, time_limit=660)
def brief_run_task(self: Any, brief_id: int) -> dict[str, Any]:
    """One brief through the pipeline; many run in parallel, one worker process each."""
    from curation.pipeline import brief_run

    return brief_run(brief_id=brief_id, task_id=self.request.id or "").as_json()


@shared_task(base=RecordedTask, bind=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def enrichment_job_run_task(self: Any, job_id: int) -> dict[str, Any]:
    """One enrichment job, item by item within its budget (progress in the job monitor)."""
    from curation.enrichment import enrichment_job_run

    job = enrichment_job_run(job_id=job_id, task_id=self.request.id or "")
    if job is None:
        return {"job": job_id, "skipped": "not queued (already run, or running elsewhere)"}
    return {"job": job.pk, "status": job.status, "drafted": job.drafted, "tokens": job.tokens_used}


@shared_task(base=RecordedTask, soft_time_limit=60, time_limit=90)
def enrichment_new_items_task() -> dict[str, Any]:
    """Beat: a job for new items with thin text, when there are any."""
    from curation.enrichment import new_thin_items_job

    job = new_thin_items_job()
    return {"job": job.pk if job else None}


@shared_task(base=RecordedTask, soft_time_limit=600, time_limit=660)
def interest_profiles_refresh_task(limit: int = 20) -> dict[str, Any]:
    """Beat: rewrite the profiles that are due, a bounded batch a run (each is a model call)."""
    from curation.profiles import profile_refresh, profiles_due
    from recsys_app.catalog.models import EndUser

    written = 0
    for user in EndUser.objects.filter(pk__in=profiles_due(limit=limit)):
        written += profile_refresh(user=user) is not None
    return {"profiles": written}


@shared_task(base=RecordedTask, soft_time_limit=600, time_limit=660)
def curation_demo_task(enrichments: int = 3) -> dict[str, Any]:
    """First start, after the models: demo briefs drafted and an enrichment job, in parallel."""
    from curation.demo import curation_demo_start

    return curation_demo_start(enrichments=enrichments)


def queue_briefs(brief_ids: list[int]) -> None:
    for brief_id in brief_ids:
        transaction.on_commit(partial(brief_run_task.delay, brief_id))
