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


@shared_task(base=RecordedTask, soft_time_limit=300, time_limit=330)
def enrichment_draft_task(item_id: int) -> dict[str, Any]:
    from curation.enrichment import enrichment_draft_create
    from recsys_app.catalog.models import Item

    item = Item.objects.filter(pk=item_id).first()
    if item is None:
        return {"item": item_id, "missing": True}
    draft = enrichment_draft_create(item=item)
    return {"item": item_id, "draft": draft.pk, "status": draft.status, "writer": draft.writer}


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
    """First start, after the models: demo briefs drafted and a few enrichments, in parallel."""
    from curation.demo import curation_demo_ensure
    from curation.enrichment import thin_items
    from curation.models import Brief
    from curation.pipeline import brief_queue

    briefs = curation_demo_ensure()
    for brief in Brief.objects.filter(pk__in=briefs):
        brief_queue(brief=brief)
    items = [item.pk for item in thin_items(limit=enrichments)] if briefs else []
    queue_briefs(briefs)
    for item_id in items:
        transaction.on_commit(partial(enrichment_draft_task.delay, item_id))
    return {"briefs": briefs, "enrichments": items}


def queue_briefs(brief_ids: list[int]) -> None:
    for brief_id in brief_ids:
        transaction.on_commit(partial(brief_run_task.delay, brief_id))
