"""Reads of curation: live published collections (for everyone, or for one end user)."""

from __future__ import annotations

import difflib
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from curation.models import Draft, EnrichmentJob
from recsys_app.catalog.models import EndUser, Item
from recsys_app.llmops.feedback import FeedbackRow
from recsys_app.retrieval.sources import favourite_categories

AUDIENCE_CATEGORIES = 5  # as the `collections` candidate source reads a user's favourites


def provenance(draft: Draft) -> dict[str, Any]:
    """Machine-readable label of generated content: what wrote it and who approved it."""
    version = draft.prompt_version
    return {
        "generated": True,
        "draft": draft.pk,
        "writer": draft.writer,
        "model": draft.model,
        "prompt": version.prompt_id if version else None,
        "prompt_version": version.number if version else None,
        "edited": draft.content != draft.generated,
        "approved_by": draft.reviewed_by.get_username() if draft.reviewed_by else None,
        "approved_at": draft.reviewed_at.isoformat() if draft.reviewed_at else None,
    }


def attribution(draft: Draft) -> dict[str, Any]:
    """What an impression of the collection's items records about what wrote it."""
    version = draft.prompt_version
    return {"draft": draft.pk, "prompt": version.prompt_id if version else None,
            "prompt_version": version.number if version else None, "model": draft.model,
            "writer": draft.writer}  # fmt: skip


def collections_live() -> QuerySet[Draft]:
    now = timezone.now()
    return (
        Draft.objects.filter(kind=Draft.Kind.COLLECTION, status=Draft.Status.PUBLISHED)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .select_related("prompt_version", "reviewed_by")
        .order_by("-published_at", "-pk")
    )


def collections_for_user(*, user: EndUser) -> list[Draft]:
    """Live collections whose audience includes the user (no audience: everyone)."""
    favourites: list[str] | None = None
    chosen = []
    for draft in collections_live():
        attributes = draft.audience.get("attributes") or {}
        if any(user.attributes.get(key) != value for key, value in attributes.items()):
            continue
        categories = draft.audience.get("categories") or []
        if categories:
            if favourites is None:
                favourites = favourite_categories(user.pk, AUDIENCE_CATEGORIES) if user.pk else []
            if not set(categories) & set(favourites):
                continue
        chosen.append(draft)
    return chosen


def collection_summary(draft: Draft) -> dict[str, Any]:
    return {
        "id": draft.pk,
        "title": draft.content["title"],
        "description": draft.content["description"],
        "items": len(draft.content["notes"]),
        "audience": draft.audience,
        "starts_at": draft.starts_at,
        "ends_at": draft.ends_at,
        "published_at": draft.published_at,
        "generated": True,
        "provenance": provenance(draft),
    }


def collection_detail(*, draft: Draft) -> dict[str, Any]:
    """A collection with its items (those the catalog still holds and offers), in order."""
    notes = draft.content["notes"]
    items = {
        row["external_id"]: row
        for row in Item.objects.filter(external_id__in=[n["item_id"] for n in notes], is_available=True).values(
            "external_id", "title", "category_path", "price", "currency"
        )
    }
    listed = [
        {**items[n["item_id"]], "item_id": n["item_id"], "note": n["note"]} for n in notes if n["item_id"] in items
    ]
    for position, entry in enumerate(listed, start=1):
        entry.pop("external_id")
        entry["position"] = position
    return {**collection_summary(draft), "items": len(listed), "entries": listed}


def enrichment_job_summary(job: EnrichmentJob) -> dict[str, Any]:
    return {
        "id": job.pk,
        "status": job.status,
        "status_reason": job.status_reason,
        "origin": job.origin,
        "filter": job.filter,
        "budget": {"items": job.budget_items, "tokens": job.budget_tokens},
        "prompt_version": job.prompt_version.number if job.prompt_version else None,
        "selected": job.selected,
        "drafted": job.drafted,
        "failed": job.failed_items,
        "tokens_used": job.tokens_used,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "review": "drafts wait for review in the console (Curation → Drafts, kind: enrichment)",
    }


def content_lines(content: dict[str, Any], *, kind: str) -> list[str]:
    if kind == Draft.Kind.ENRICHMENT:
        return [f"tags: {', '.join(content.get('tags', []))}", f"description: {content.get('description', '')}"]
    lines = [f"title: {content.get('title', '')}", f"description: {content.get('description', '')}"]
    return lines + [f"- {note['item_id']}: {note.get('note', '')}" for note in content.get("notes", [])]


DECIDED = (Draft.Status.APPROVED, Draft.Status.PUBLISHED, Draft.Status.UNPUBLISHED, Draft.Status.REJECTED)
FEEDBACK_DRAFTS = 5000  # latest drafts of a prompt read for its feedback table


def review_feedback(prompt_name: str) -> list[FeedbackRow]:
    """Per version of the prompt: approve, edit and reject rates and edit distance of its drafts;
    then the same per check, over the drafts where that check changed a sentence."""
    drafts = list(
        Draft.objects.filter(prompt_version__prompt_id=prompt_name)
        .select_related("prompt_version")
        .only("status", "generated", "content", "kind", "evidence", "prompt_version__number")
        .order_by("-pk")[:FEEDBACK_DRAFTS]
    )
    groups: dict[tuple[int, str], list[Draft]] = {}
    for draft in drafts:
        number = draft.prompt_version.number if draft.prompt_version else 0
        groups.setdefault((number, ""), []).append(draft)
        fired = {c.get("check") or "other" for c in draft.evidence.get("claims", []) if c.get("status") != "passed"}
        for check in fired:
            groups.setdefault((number, check), []).append(draft)
    return [_feedback_row(number, check, members) for (number, check), members in
            sorted(groups.items(), key=lambda g: (-g[0][0], g[0][1]))]  # fmt: skip


def _feedback_row(number: int, check: str, drafts: list[Draft]) -> FeedbackRow:
    decided = [d for d in drafts if d.status in DECIDED]
    approved = [d for d in decided if d.status != Draft.Status.REJECTED]
    edited = [d for d in approved if d.content != d.generated]
    distances = [edit_distance(d) for d in approved]
    return FeedbackRow(
        version=number, check=check, drafts=len(drafts), decided=len(decided), approved=len(approved),
        edited=len(edited), rejected=len(decided) - len(approved),
        mean_edit_distance=round(sum(distances) / len(distances), 3) if distances else None,
    )  # fmt: skip


def edit_distance(draft: Draft) -> float:
    """How much a reviewer changed the generated text: 1 - difflib's similarity of the two, as lines."""
    before = "\n".join(content_lines(draft.generated, kind=draft.kind))
    after = "\n".join(content_lines(draft.content, kind=draft.kind))
    return round(1.0 - difflib.SequenceMatcher(None, before, after).ratio(), 4)
