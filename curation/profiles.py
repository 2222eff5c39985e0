"""Interest profiles: a short written summary of what a user enjoys, generated from their
history only when they consent to personalisation and to generative features, embedded, and
read by the `profile` candidate source. Refreshed when the history has grown enough."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from curation.checks import facts_of, safety_problem
from curation.claims import check
from curation.faithfulness import grounds_for
from recsys_app.catalog.models import EndUser
from recsys_app.catalog.selectors import liked_item_ids
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.tracing import trace_subject
from recsys_app.retrieval import encoder
from recsys_app.retrieval.models import InterestProfile

PROFILE_PROMPT = "interest_profile"
HISTORY = 30  # liked items the summary is written from
MIN_EVENTS = 5  # fewer interactions say too little to summarise
MIN_NEW_EVENTS = 10  # a profile is rewritten after this many new interactions …
MIN_GROWTH = 0.2  # … and at least this share of the history it was written from

_DUE = """
SELECT u.id FROM catalog_enduser u
JOIN catalog_interaction x ON x.user_id = u.id
LEFT JOIN retrieval_interestprofile p ON p.user_id = u.id
WHERE u.consent_personalization AND u.consent_generative
GROUP BY u.id, p.events_seen
HAVING count(*) >= %s AND (p.events_seen IS NULL OR count(*) - p.events_seen >= greatest(%s, %s * p.events_seen))
ORDER BY max(x.occurred_at) DESC, u.id
LIMIT %s
"""


def profiles_due(*, limit: int, min_events: int = MIN_EVENTS) -> list[int]:
    """Consenting users without a profile, or whose history grew enough since it was written;
    the most recently active first."""
    with connection.cursor() as cursor:
        cursor.execute(_DUE, [min_events, MIN_NEW_EVENTS, MIN_GROWTH, limit])
        return [row[0] for row in cursor.fetchall()]


def profile_refresh(*, user: EndUser) -> InterestProfile | None:
    """Write (or rewrite) the user's profile; without consent, delete any profile instead."""
    if not (user.consent_personalization and user.consent_generative):
        InterestProfile.objects.filter(user=user).delete()
        return None
    liked, events = _history(user.pk)
    if not liked:
        return None
    facts = list(facts_of(liked).values())
    items = [{"title": f.title, **({"category": f.category.split("/")[0]} if f.category else {})} for f in facts]
    with trace_subject(user.external_id):
        summary, writer, provenance = _summary(items, facts)
    profile, _ = InterestProfile.objects.update_or_create(
        user=user,
        defaults={
            "text": summary,
            "model_name": settings.EMBEDDING_MODEL,
            "vector": encoder.encode([summary])[0],
            "events_seen": events,
            "writer": writer,
            "provenance": provenance,
        },
    )
    return profile


def _history(user_id: int) -> tuple[list[int], int]:
    """The user's latest liked items and the count of all their interactions."""
    liked = liked_item_ids(user_id=user_id, limit=HISTORY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_interaction WHERE user_id = %s", [user_id])
        return liked, int(cursor.fetchone()[0])


def _summary(items: list[dict[str, Any]], facts: list[Any]) -> tuple[str, str, dict[str, Any]]:
    try:
        completion = llm_complete(prompt=PROFILE_PROMPT, variables={"items": items})
        summary = str(completion.parsed["summary"]).strip()
    except (LLMError, KeyError, TypeError):
        return template_summary(items), "template", {}
    provenance = {"prompt": PROFILE_PROMPT, "prompt_version": completion.version.number,
                  "model": completion.trace.model, "trace": completion.trace.pk}  # fmt: skip
    grounds = grounds_for(facts)
    failing = [v for v in check(summary, part="description", grounds=grounds) if v.status != "passed"]
    problem = (failing[0].reason if failing else None) or safety_problem(summary)
    if problem or len(summary) < 10:
        return template_summary(items), "template", {**provenance, "rejected": problem or "too short"}
    return summary, "model", provenance


def template_summary(items: list[dict[str, Any]]) -> str:
    """Favourite categories and a few recent titles: true by construction."""
    counts: dict[str, int] = {}
    for item in items:
        if item.get("category"):
            counts[item["category"]] = counts.get(item["category"], 0) + 1
    top = sorted(counts, key=lambda c: -counts[c])[:3]
    titles = ", ".join(item["title"] for item in items[:3])
    return (f"Enjoys {', '.join(top)}. " if top else "") + f"Recently liked {titles}."
