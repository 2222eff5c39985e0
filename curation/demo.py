"""Drafts waiting for review on the demo catalog: a few operator briefs, proposed themes and an
enrichment job."""

from __future__ import annotations

from typing import Any

from curation.models import Brief
from curation.schemas import Audience
from curation.segments import themes_propose

DEMO_BRIEFS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("cozy rainy-day films", {}, {"max_items": 8}),
    ("a night of scares", {}, {"category": "Horror", "max_items": 8}),
    ("animated films for the whole family", {}, {"category": "Animation", "max_items": 8}),
    ("heists and detectives", {"categories": ["Crime"]}, {"max_items": 8}),
]


def curation_demo_ensure(*, proposals: int = 2) -> list[int]:
    """Create the demo briefs once (none if any brief exists); the ids of those created."""
    if Brief.objects.exists():
        return []
    briefs = [
        Brief.objects.create(theme=theme, audience=audience, constraints=constraints)
        for theme, audience, constraints in DEMO_BRIEFS
    ]
    briefs += themes_propose(audience=Audience(), count=proposals)
    return [brief.pk for brief in briefs]


def curation_demo_start(*, enrichments: int = 3) -> dict[str, Any]:
    """The demo briefs queued for drafting, and an enrichment job over the most popular thin
    items, on the first start only."""
    from curation.enrichment import enrichment_job_create
    from curation.models import EnrichmentJob
    from curation.pipeline import brief_queue
    from curation.tasks import queue_briefs

    briefs = curation_demo_ensure()
    for brief in Brief.objects.filter(pk__in=briefs):
        brief_queue(brief=brief)
    queue_briefs(briefs)
    job = None
    if briefs and enrichments:
        job = enrichment_job_create(filter={}, budget={"items": enrichments}, origin=EnrichmentJob.Origin.DEMO)
    return {"briefs": briefs, "enrichment_job": job.pk if job else None}
