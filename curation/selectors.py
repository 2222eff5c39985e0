"""Reads of curation: live published collections (for everyone, or for one end user)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from curation.models import Draft
from recsys_app.catalog.models import EndUser, Item
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
