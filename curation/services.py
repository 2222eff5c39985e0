"""The review workflow: assign, claim, edit, approve, reject, publish, unpublish.

Invariants:
- one reviewer at a time: `draft_claim` takes the draft with a conditional UPDATE; every
  later action locks the row and checks that the actor holds the review;
- no action on a stale view: edit, approve and reject name the revision they were made on,
  and a draft changed since refuses them;
- nothing is published that is not approved, and only by someone allowed to publish; what
  is published passed the same checks as the generated text (edits are re-checked);
- every action leaves a `ReviewAction` row; approvals, edits and rejections also become
  evaluation cases of the prompt that wrote the draft.
"""

from __future__ import annotations

import difflib
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from curation.checks import facts_of, safety_problem
from curation.claims import edit_problem
from curation.faithfulness import grounds_for
from curation.models import Draft, ReviewAction
from curation.schemas import Audience, CollectionText, EnrichmentText, parsed
from curation.selectors import attribution, content_lines, provenance
from recsys_app.catalog.models import Item
from recsys_app.catalog.services import item_enrich
from recsys_app.llmops.models import EvalCase, EvalDataset
from recsys_app.llmops.prompts import REVIEW_SET
from recsys_app.ranking.models import CandidatePool
from recsys_app.retrieval.models import CuratedEntry
from recsys_app.safety.audit import audit_record

LOCK_TTL = timedelta(minutes=30)  # a review left open this long may be taken over
REVIEWABLE = (Draft.Status.PENDING_REVIEW, Draft.Status.IN_REVIEW)


class ReviewError(Exception):
    """An action the draft's state does not allow; the message says why."""


class ReviewConflict(ReviewError):
    """Someone else holds the review, or the draft changed since the actor looked at it."""


def _require(by: Any, permission: str, doing: str) -> None:
    if not by.has_perm(f"curation.{permission}"):
        raise PermissionDenied(f"{by} may not {doing}")


# Review steps that change what end users see (or will see) also go to the audit log.
AUDITED = {ReviewAction.Action.EDIT, ReviewAction.Action.APPROVE, ReviewAction.Action.REJECT,
           ReviewAction.Action.APPLY, ReviewAction.Action.PUBLISH, ReviewAction.Action.UNPUBLISH}  # fmt: skip


def _log(draft: Draft, action: str, by: Any, before: Any = None, **fields: Any) -> ReviewAction:
    logged = ReviewAction.objects.create(draft=draft, action=action, by=by, revision=draft.revision, **fields)
    if action in AUDITED:
        after: dict[str, Any] = {"status": draft.status, "revision": draft.revision, **fields.get("details", {})}
        if action == ReviewAction.Action.EDIT:
            after["content"] = draft.content
        audit_record(actor=by, action=f"draft.{action}", target=draft, before=before, after=after,
                     summary=f"{draft.kind} draft #{draft.pk}: {action}")  # fmt: skip
    return logged


def _locked(draft: Draft) -> Draft:
    return Draft.objects.select_for_update().get(pk=draft.pk)


@transaction.atomic
def draft_assign(*, draft: Draft, reviewer: Any, by: Any) -> Draft:
    _require(by, "publish_draft", "assign reviews")
    _require(reviewer, "review_draft", "review drafts")
    draft = _locked(draft)
    if draft.status not in REVIEWABLE:
        raise ReviewError(
            f"draft #{draft.pk} is {draft.get_status_display()}; only drafts waiting for review are assigned"
        )
    draft.assigned_to = reviewer
    if draft.reviewing_by_id not in (None, reviewer.pk):  # the new assignee takes over
        draft.reviewing_by, draft.review_started_at, draft.status = None, None, Draft.Status.PENDING_REVIEW
    draft.save(update_fields=["assigned_to", "reviewing_by", "review_started_at", "status", "updated_at"])
    _log(draft, ReviewAction.Action.ASSIGN, by, details={"reviewer": reviewer.get_username()})
    return draft


def draft_claim(*, draft: Draft, by: Any) -> Draft:
    """Start (or resume) reviewing; refused while another person reviews it or it is assigned
    to someone else."""
    _require(by, "review_draft", "review drafts")
    now = timezone.now()
    claimed = (
        Draft.objects.filter(pk=draft.pk, status__in=REVIEWABLE)
        .filter(Q(reviewing_by__isnull=True) | Q(reviewing_by=by) | Q(review_started_at__lt=now - LOCK_TTL))
        .filter(Q(assigned_to__isnull=True) | Q(assigned_to=by))
        .update(status=Draft.Status.IN_REVIEW, reviewing_by=by, review_started_at=now, updated_at=now)
    )
    draft.refresh_from_db()
    if not claimed:
        raise ReviewConflict(_why_not_claimable(draft))
    _log(draft, ReviewAction.Action.CLAIM, by)
    return draft


def _why_not_claimable(draft: Draft) -> str:
    if draft.status not in REVIEWABLE:
        return f"draft #{draft.pk} is {draft.get_status_display()}, not waiting for review"
    if draft.reviewing_by_id is not None:
        since = timezone.localtime(draft.review_started_at).strftime("%H:%M") if draft.review_started_at else "?"
        return f"draft #{draft.pk} is being reviewed by {draft.reviewing_by} (since {since})"
    return f"draft #{draft.pk} is assigned to {draft.assigned_to}"


def _held(draft: Draft, by: Any, revision: int) -> Draft:
    """The locked row, if `by` holds its review and looked at its current revision."""
    draft = _locked(draft)
    if draft.status not in REVIEWABLE:
        raise ReviewError(f"draft #{draft.pk} is {draft.get_status_display()}, not in review")
    if draft.reviewing_by_id != by.pk:
        holder = f"{draft.reviewing_by} is reviewing it" if draft.reviewing_by_id else "start a review first"
        raise ReviewConflict(f"you are not reviewing draft #{draft.pk}: {holder}")
    if draft.revision != revision:
        raise ReviewConflict(
            f"draft #{draft.pk} changed since you opened it (now revision {draft.revision}, you had {revision}); "
            "reload it and try again"
        )
    return draft


@transaction.atomic
def draft_release(*, draft: Draft, by: Any) -> Draft:
    draft = _locked(draft)
    if draft.reviewing_by_id != by.pk:
        raise ReviewConflict(f"you are not reviewing draft #{draft.pk}")
    draft.reviewing_by, draft.review_started_at, draft.status = None, None, Draft.Status.PENDING_REVIEW
    draft.save(update_fields=["reviewing_by", "review_started_at", "status", "updated_at"])
    _log(draft, ReviewAction.Action.RELEASE, by)
    return draft


@transaction.atomic
def draft_edit(*, draft: Draft, by: Any, revision: int, content: dict[str, Any]) -> Draft:
    """Replace the draft's text; the edit is checked like generated text and kept as a diff."""
    draft = _held(draft, by, revision)
    content = _checked_content(draft, content)
    diff = content_diff(draft.content, content, kind=draft.kind)
    if not diff:
        return draft
    before = {"content": draft.content, "revision": draft.revision}
    draft.content = content
    draft.revision += 1
    draft.save(update_fields=["content", "revision", "updated_at"])
    _log(draft, ReviewAction.Action.EDIT, by, before, diff=content_diff(draft.generated, content, kind=draft.kind))
    return draft


def _checked_content(draft: Draft, content: dict[str, Any]) -> dict[str, Any]:
    """A reviewer's text, held to the same facts as generated text (each sentence against the
    items it is about), and the safety hooks."""
    if draft.kind == Draft.Kind.ENRICHMENT:
        return _checked_enrichment(draft, content)
    collection = parsed(CollectionText, content, where="content")
    by_external = {f.external_id: f for f in facts_of(draft.items.values_list("item_id", flat=True)).values()}
    for n, note in enumerate(collection.notes):
        if note.item_id not in by_external:
            raise ReviewError(f"content.notes.{n}.item_id: '{note.item_id}' is not one of this draft's items")
    if not collection.notes:
        raise ReviewError("content.notes: a collection needs at least one item")
    grounds = grounds_for([by_external[note.item_id] for note in collection.notes])
    for n, note in enumerate(collection.notes):
        problem = edit_problem(note.note, part="note", grounds=grounds, item=by_external[note.item_id]) or \
            safety_problem(note.note)  # fmt: skip
        if problem:
            raise ReviewError(f"content.notes.{n}.note {problem}")
    for part in ("title", "description"):
        text = getattr(collection, part)
        problem = edit_problem(text, part=part, grounds=grounds) or safety_problem(text)
        if problem:
            raise ReviewError(f"content.{part} {problem}")
    return collection.model_dump()


def _checked_enrichment(draft: Draft, content: dict[str, Any]) -> dict[str, Any]:
    text = parsed(EnrichmentText, content, where="content")
    facts = facts_of([draft.item_id or 0]).get(draft.item_id or 0)
    problem = None
    if facts is not None:
        problem = edit_problem(text.description, part="note", grounds=grounds_for([facts]), item=facts)
    problem = problem or safety_problem(text.description)
    if problem:
        raise ReviewError(f"content.description {problem}")
    return text.model_dump()


def content_diff(old: dict[str, Any], new: dict[str, Any], *, kind: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            content_lines(old, kind=kind), content_lines(new, kind=kind), "generated", "edited", lineterm=""
        )
    )


@transaction.atomic
def draft_approve(*, draft: Draft, by: Any, revision: int) -> Draft:
    """Approve; an enrichment is applied to its item at once (and re-embedded by the worker)."""
    draft = _held(draft, by, revision)
    before = {"status": draft.status}
    _decide(draft, by, Draft.Status.APPROVED)
    _log(draft, ReviewAction.Action.APPROVE, by, before)
    _feed_evaluation(draft, approved=True)
    if draft.kind == Draft.Kind.ENRICHMENT:
        _apply_enrichment(draft, by)
    return draft


@transaction.atomic
def draft_reject(*, draft: Draft, by: Any, revision: int, reason: str) -> Draft:
    if not reason.strip():
        raise ReviewError("reason: say why the draft is rejected")
    draft = _held(draft, by, revision)
    draft.rejection_reason = reason.strip()[:2000]
    before = {"status": draft.status}
    _decide(draft, by, Draft.Status.REJECTED)
    _log(draft, ReviewAction.Action.REJECT, by, before, reason=draft.rejection_reason)
    _feed_evaluation(draft, approved=False)
    return draft


def _decide(draft: Draft, by: Any, status: str) -> None:
    draft.status, draft.reviewed_by, draft.reviewed_at = status, by, timezone.now()
    draft.reviewing_by, draft.review_started_at = None, None
    draft.revision += 1
    draft.save(update_fields=["status", "reviewed_by", "reviewed_at", "reviewing_by", "review_started_at",
                              "revision", "rejection_reason", "updated_at"])  # fmt: skip


def _feed_evaluation(draft: Draft, *, approved: bool) -> None:
    """The reviewed draft becomes a case of its prompt's `reviews-approved` or
    `reviews-rejected` set: the approved text (with edits) as the reference answer."""
    version = draft.prompt_version
    variables = draft.evidence.get("variables")
    if version is None or not variables:
        return
    name = REVIEW_SET if approved else "reviews-rejected"
    dataset, _ = EvalDataset.objects.get_or_create(
        prompt_id=version.prompt_id, name=name, defaults={"description": "Drafts as reviewers judged them."}
    )
    edited = draft.content != draft.generated
    EvalCase.objects.create(
        dataset=dataset,
        variables=variables,
        reference=draft.content if approved else None,
        grounding={"item_ids": [item["item_id"] for item in variables.get("items", [])]}
        if "items" in variables
        else {},
        source=f"review of draft #{draft.pk}"
        + (" (edited)" if edited else "")
        + ("" if approved else f": {draft.rejection_reason[:200]}"),
    )


def _apply_enrichment(draft: Draft, by: Any) -> None:
    item = Item.objects.select_for_update().get(pk=draft.item_id or 0)
    text = EnrichmentText.model_validate(draft.content)
    item_enrich(item=item, description=text.description, tags=text.tags, provenance=provenance(draft))
    _log(draft, ReviewAction.Action.APPLY, by, details={"item": item.external_id})
    transaction.on_commit(_queue_embedding)


def _queue_embedding() -> None:
    from recsys_app.retrieval.tasks import item_embeddings_refresh_task

    item_embeddings_refresh_task.delay()


@transaction.atomic
def collection_publish(
    *,
    draft: Draft,
    by: Any,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    audience: dict[str, Any] | None = None,
) -> Draft:
    """Serve an approved collection to its audience between `starts_at` and `ends_at`."""
    _require(by, "publish_draft", "publish collections")
    draft = _locked(draft)
    if draft.kind != Draft.Kind.COLLECTION:
        raise ReviewError(f"draft #{draft.pk} is an enrichment; approving it applied it")
    if draft.status not in (Draft.Status.APPROVED, Draft.Status.UNPUBLISHED):
        raise ReviewError(f"draft #{draft.pk} is {draft.get_status_display()}; only approved drafts are published")
    if starts_at and ends_at and ends_at <= starts_at:
        raise ReviewError("ends_at: must be after starts_at")
    chosen = parsed(Audience, draft.audience if audience is None else audience, where="audience")
    before = {"status": draft.status, "audience": draft.audience}
    draft.status, draft.audience, draft.starts_at, draft.ends_at = (
        Draft.Status.PUBLISHED,
        chosen.model_dump(),
        starts_at,
        ends_at,
    )
    draft.published_by, draft.published_at = by, timezone.now()
    draft.save(
        update_fields=["status", "audience", "starts_at", "ends_at", "published_by", "published_at", "updated_at"]
    )
    placed = _place(draft, chosen)
    schedule = {
        key: value.isoformat() if value else None for key, value in (("starts_at", starts_at), ("ends_at", ends_at))
    }
    details = {"items": placed, "audience": chosen.model_dump(), **schedule}
    _log(draft, ReviewAction.Action.PUBLISH, by, before, details=details)
    return draft


def _place(draft: Draft, audience: Audience) -> int:
    """The serving rows of a published collection: only items the catalog holds."""
    ids = [note["item_id"] for note in draft.content["notes"]]
    known = dict(Item.objects.filter(external_id__in=ids).values_list("external_id", "pk"))
    key = f"collection:{draft.pk}"
    CuratedEntry.objects.filter(list_key=key).delete()
    shared = {
        "list_key": key,
        "list_title": str(draft.content["title"])[:200],
        "audience_attributes": audience.attributes,
        "audience_categories": audience.categories,
        "starts_at": draft.starts_at,
        "ends_at": draft.ends_at,
        "provenance": attribution(draft),
    }
    placed = [external_id for external_id in ids if external_id in known]
    CuratedEntry.objects.bulk_create(
        CuratedEntry(item_id=known[external_id], position=n, **shared) for n, external_id in enumerate(placed, 1)
    )
    _invalidate_pools()
    return len(placed)


def _invalidate_pools() -> None:
    # Pools hold the `collections` source's old answer; dropping them makes the next request
    # of each user build a fresh one (a burst of live requests on a big install; acceptable for
    # an operator action that is rare).
    CandidatePool.objects.all().delete()


@transaction.atomic
def collection_unpublish(*, draft: Draft, by: Any) -> Draft:
    _require(by, "publish_draft", "unpublish collections")
    draft = _locked(draft)
    if draft.status != Draft.Status.PUBLISHED:
        raise ReviewError(f"draft #{draft.pk} is {draft.get_status_display()}, not published")
    draft.status = Draft.Status.UNPUBLISHED
    draft.save(update_fields=["status", "updated_at"])
    CuratedEntry.objects.filter(list_key=f"collection:{draft.pk}").delete()
    _invalidate_pools()
    _log(draft, ReviewAction.Action.UNPUBLISH, by, {"status": Draft.Status.PUBLISHED})
    return draft
