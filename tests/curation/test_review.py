"""The review workflow: one reviewer at a time, no action on a stale view, publish only what
was approved, every step recorded and fed back to the prompt's evaluation sets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from curation import services
from curation.models import Draft, ReviewAction
from recsys_app.llmops.models import EvalCase, Prompt, PromptVersion
from recsys_app.retrieval.models import CuratedEntry
from recsys_app.safety.models import AuditEntry

MakeDraft = Callable[..., Draft]


def test_a_draft_is_reviewed_by_one_person_at_a_time(
    make_draft: MakeDraft, reviewer: Any, second_reviewer: Any
) -> None:
    draft = make_draft()
    services.draft_claim(draft=draft, by=reviewer)
    with pytest.raises(services.ReviewConflict, match="being reviewed by rita"):
        services.draft_claim(draft=draft, by=second_reviewer)
    services.draft_claim(draft=draft, by=reviewer)  # resuming one's own review is fine
    services.draft_release(draft=draft, by=reviewer)
    assert services.draft_claim(draft=draft, by=second_reviewer).reviewing_by == second_reviewer


def test_an_abandoned_review_can_be_taken_over(make_draft: MakeDraft, reviewer: Any, second_reviewer: Any) -> None:
    draft = services.draft_claim(draft=make_draft(), by=reviewer)
    Draft.objects.filter(pk=draft.pk).update(
        review_started_at=timezone.now() - services.LOCK_TTL - timedelta(minutes=1)
    )
    assert services.draft_claim(draft=draft, by=second_reviewer).reviewing_by == second_reviewer


def test_acting_on_a_stale_revision_is_refused(make_draft: MakeDraft, reviewer: Any) -> None:
    draft = services.draft_claim(draft=make_draft(), by=reviewer)
    opened = draft.revision
    edited = {**draft.content, "title": "Chills and Thrills"}
    services.draft_edit(draft=draft, by=reviewer, revision=opened, content=edited)
    with pytest.raises(services.ReviewConflict, match=r"changed since you opened it \(now revision 2, you had 1\)"):
        services.draft_approve(draft=draft, by=reviewer, revision=opened)
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.IN_REVIEW


def test_only_the_reviewer_holding_the_draft_may_act(
    make_draft: MakeDraft, reviewer: Any, second_reviewer: Any
) -> None:
    draft = services.draft_claim(draft=make_draft(), by=reviewer)
    with pytest.raises(services.ReviewConflict, match="rita is reviewing it"):
        services.draft_reject(draft=draft, by=second_reviewer, revision=draft.revision, reason="dull")


def test_an_edit_is_kept_as_a_diff_against_the_generated_text(make_draft: MakeDraft, reviewer: Any) -> None:
    draft = services.draft_claim(draft=make_draft(), by=reviewer)
    content = {**draft.content, "title": "Chills and Thrills", "notes": draft.content["notes"][:2]}
    draft = services.draft_edit(draft=draft, by=reviewer, revision=1, content=content)
    assert draft.generated["title"] == "Horror Classics" and draft.content["title"] == "Chills and Thrills"
    diff = ReviewAction.objects.get(draft=draft, action="edit").diff
    assert "-title: Horror Classics" in diff and "+title: Chills and Thrills" in diff and "-- film-3:" in diff


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": "Horror Classics for $4.99"}, "content.title states the price 4.99"),
        (
            {"notes": [{"item_id": "film-1", "note": "A classic from 1991."}]},
            "content.notes.0.note states the year 1991",
        ),
        ({"notes": [{"item_id": "film-4", "note": "Heat."}]}, "content.notes.0.item_id: 'film-4' is not one of"),
        ({"notes": [{"item_id": "film-1", "note": "See http://evil.example"}]}, "contains a link"),
        ({"notes": [{"item_id": "film-1", "note": "Call 415-555-0132 to rent it."}]}, "guardrail chain.*pii: phone"),
        ({"description": "Only for idiots, you morons."}, "guardrail chain.*toxicity"),
        ({"title": ""}, "content: title: String should have at least 3 characters"),
        ({"notes": []}, "a collection needs at least one item"),
    ],
)
def test_edits_pass_the_same_checks_as_generated_text(
    make_draft: MakeDraft, reviewer: Any, change: dict[str, Any], message: str
) -> None:
    draft = services.draft_claim(draft=make_draft(), by=reviewer)
    with pytest.raises((services.ReviewError, ValueError), match=message):
        services.draft_edit(draft=draft, by=reviewer, revision=1, content={**draft.content, **change})
    assert Draft.objects.get(pk=draft.pk).content == draft.generated, "nothing half-written"


def test_a_draft_assigned_to_someone_else_cannot_be_claimed(
    make_draft: MakeDraft, publisher: Any, reviewer: Any, second_reviewer: Any
) -> None:
    draft = services.draft_assign(draft=make_draft(), reviewer=reviewer, by=publisher)
    with pytest.raises(services.ReviewConflict, match="assigned to rita"):
        services.draft_claim(draft=draft, by=second_reviewer)
    with pytest.raises(PermissionDenied):
        services.draft_assign(draft=draft, reviewer=second_reviewer, by=reviewer)  # reviewers do not assign


def test_rejection_needs_a_reason_and_becomes_an_evaluation_case(
    make_draft: MakeDraft, reviewer: Any, llm: None
) -> None:
    draft = make_draft(prompt_version=PromptVersion.objects.get(prompt="collection_writer", number=1))
    services.draft_claim(draft=draft, by=reviewer)
    with pytest.raises(services.ReviewError, match="reason: say why"):
        services.draft_reject(draft=draft, by=reviewer, revision=1, reason="  ")
    draft = services.draft_reject(draft=draft, by=reviewer, revision=1, reason="Off theme")
    assert draft.status == Draft.Status.REJECTED and draft.rejection_reason == "Off theme"
    case = EvalCase.objects.get(dataset__name="reviews-rejected", dataset__prompt="collection_writer")
    assert case.variables["theme"] == "scary movie night" and case.reference is None and "Off theme" in case.source


def test_approval_with_edits_becomes_a_reference_answer(make_draft: MakeDraft, reviewer: Any, llm: None) -> None:
    draft = make_draft(prompt_version=Prompt.objects.get(name="collection_writer").versions.get(number=1))
    services.draft_claim(draft=draft, by=reviewer)
    draft = services.draft_edit(draft=draft, by=reviewer, revision=1, content={**draft.content, "title": "Chills"})
    draft = services.draft_approve(draft=draft, by=reviewer, revision=2)
    assert draft.status == Draft.Status.APPROVED and draft.reviewed_by == reviewer and draft.reviewing_by is None
    case = EvalCase.objects.get(dataset__name="reviews-approved")
    assert case.reference["title"] == "Chills" and "(edited)" in case.source
    assert case.grounding == {"item_ids": ["film-1", "film-2", "film-3"]}


def _approved(make_draft: MakeDraft, reviewer: Any) -> Draft:
    draft = services.draft_claim(draft=make_draft(), by=reviewer)
    return services.draft_approve(draft=draft, by=reviewer, revision=draft.revision)


def test_only_approved_drafts_are_published_and_only_by_publishers(
    make_draft: MakeDraft, reviewer: Any, publisher: Any
) -> None:
    pending = make_draft()
    with pytest.raises(services.ReviewError, match="only approved drafts are published"):
        services.collection_publish(draft=pending, by=publisher)
    approved = _approved(make_draft, reviewer)
    with pytest.raises(PermissionDenied, match="rita may not publish"):
        services.collection_publish(draft=approved, by=reviewer)
    assert not CuratedEntry.objects.exists()


def test_publishing_is_recorded_scheduled_and_served_to_its_audience(
    make_draft: MakeDraft, reviewer: Any, publisher: Any
) -> None:
    draft = _approved(make_draft, reviewer)
    start, end = timezone.now() + timedelta(days=1), timezone.now() + timedelta(days=8)
    with pytest.raises(services.ReviewError, match="ends_at: must be after starts_at"):
        services.collection_publish(draft=draft, by=publisher, starts_at=end, ends_at=start)
    with pytest.raises(ValueError, match="audience: categories"):
        services.collection_publish(draft=draft, by=publisher, audience={"categories": "Horror"})
    draft = services.collection_publish(
        draft=draft, by=publisher, starts_at=start, ends_at=end, audience={"categories": ["Horror"]}
    )
    assert draft.status == Draft.Status.PUBLISHED and draft.published_by == publisher
    entries = list(CuratedEntry.objects.filter(list_key=f"collection:{draft.pk}").order_by("position"))
    assert [e.item.external_id for e in entries] == ["film-1", "film-2", "film-3"]
    assert entries[0].starts_at == start and entries[0].audience_categories == ["Horror"]
    assert entries[0].list_title == "Horror Classics"
    services.collection_unpublish(draft=draft, by=publisher)
    assert not CuratedEntry.objects.exists()
    actions = list(ReviewAction.objects.filter(draft=draft).values_list("action", "by__username"))
    assert actions[-2:] == [("publish", "paula"), ("unpublish", "paula")]
    audit = list(AuditEntry.objects.filter(target_id=str(draft.pk)).order_by("id"))
    assert [(e.action, e.actor_name) for e in audit] == [
        ("draft.approve", "rita"), ("draft.publish", "paula"), ("draft.unpublish", "paula")]  # fmt: skip
    assert audit[1].before["status"] == "approved" and audit[1].after["audience"]["categories"] == ["Horror"]


def test_an_item_gone_from_the_catalog_is_not_published(make_draft: MakeDraft, reviewer: Any, publisher: Any) -> None:
    draft = _approved(make_draft, reviewer)
    draft.items.get(item__external_id="film-2").item.delete()
    services.collection_publish(draft=Draft.objects.get(pk=draft.pk), by=publisher)
    assert sorted(CuratedEntry.objects.values_list("item__external_id", flat=True)) == ["film-1", "film-3"]


def test_a_brief_with_drafts_cannot_be_deleted(make_draft: MakeDraft) -> None:
    from django.db.models import ProtectedError

    draft = make_draft()
    with pytest.raises(ProtectedError):
        draft.brief.delete()  # type: ignore[union-attr]
