"""The console's curation pages: write and run briefs, review a draft beside its evidence,
edit, approve, publish; a reviewer who may not publish is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from curation import services
from curation.models import Brief, Draft, EnrichmentJob
from curation.selectors import review_feedback
from recsys_app.catalog.models import Item
from recsys_app.llmops.models import PromptVersion
from recsys_app.retrieval.models import CuratedEntry


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_review_edit_approve_and_publish_from_the_console(make_draft: Callable[..., Draft], publisher: Any) -> None:
    draft = make_draft()
    client = _client(publisher)
    url = reverse("admin:curation_draft_review", args=[draft.pk])
    assert client.get(reverse("admin:curation_draft_change", args=[draft.pk])).url == url
    page = client.get(url).content.decode()
    assert "generated" in page and "Alien" in page and "Start review" in page and "Every id and stated fact" in page
    client.post(url, {"action": "claim"})
    page = client.get(url).content.decode()
    assert 'name="title"' in page and "disabled" not in page.split('name="title"')[1][:60]
    form = {"action": "approve", "revision": "1", "title": "Night Frights", "description": draft.content["description"],
            "keep": ["film-1", "film-3"], "note:film-1": "The one in space.", "note:film-3": "Masks."}  # fmt: skip
    response = client.post(url, form, follow=True)
    assert f"Draft #{draft.pk}: approve done." in _messages(response)
    draft.refresh_from_db()
    assert draft.status == Draft.Status.APPROVED and draft.content["title"] == "Night Frights"
    assert [n["item_id"] for n in draft.content["notes"]] == ["film-1", "film-3"]
    response = client.post(url, {"action": "publish", "starts_at": "", "ends_at": "", "audience": "{}"}, follow=True)
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.PUBLISHED
    assert CuratedEntry.objects.count() == 2
    history = client.get(url).content.decode()
    assert "+title: Night Frights" in history and "Publish" in history


def test_a_stale_form_is_refused_with_a_clear_message(make_draft: Callable[..., Draft], reviewer: Any) -> None:
    draft = make_draft()
    client = _client(reviewer)
    url = reverse("admin:curation_draft_review", args=[draft.pk])
    client.post(url, {"action": "claim"})
    base = {"title": "Chills", "description": draft.content["description"], "keep": ["film-1"],
            "note:film-1": "Space horror."}  # fmt: skip
    client.post(url, {**base, "action": "edit", "revision": "1"})
    response = client.post(url, {**base, "action": "reject", "revision": "1", "reason": "dull"}, follow=True)
    assert any("changed since you opened it" in m for m in _messages(response))
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.IN_REVIEW


def test_a_reviewer_cannot_publish(make_draft: Callable[..., Draft], reviewer: Any) -> None:
    draft = make_draft()
    client = _client(reviewer)
    url = reverse("admin:curation_draft_review", args=[draft.pk])
    client.post(url, {"action": "claim"})
    client.post(url, {"action": "approve", "revision": "1", **_unchanged(draft)})
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.APPROVED
    assert 'value="publish"' not in client.get(url).content.decode()
    response = client.post(url, {"action": "publish"}, follow=True)
    assert "rita may not publish collections" in _messages(response)
    assert not CuratedEntry.objects.exists()


def _unchanged(draft: Draft) -> dict[str, Any]:
    notes = draft.content["notes"]
    return {"title": draft.content["title"], "description": draft.content["description"],
            "keep": [n["item_id"] for n in notes], **{f"note:{n['item_id']}": n["note"] for n in notes}}  # fmt: skip


def test_briefs_are_validated_and_queued_from_the_console(publisher: Any, films: Any) -> None:
    client = _client(publisher)
    add = reverse("admin:curation_brief_add")
    bad = client.post(add, {"theme": "scares", "audience": "{}", "constraints": '{"price_max": "x"}'})
    assert "constraints: price_max: Input should be a valid decimal" in bad.content.decode()
    client.post(add, {"theme": "scares", "audience": '{"categories": ["Horror"]}', "constraints": '{"max_items": 6}'})
    brief = Brief.objects.get(theme="scares")
    assert brief.constraints == {"min_items": 5, "max_items": 6} and brief.created_by == publisher
    changelist = reverse("admin:curation_brief_changelist")
    client.post(changelist, {"action": "run_pipeline", "_selected_action": [brief.pk]})
    assert Brief.objects.get(pk=brief.pk).status == Brief.Status.QUEUED
    again = client.post(changelist, {"action": "run_pipeline", "_selected_action": [brief.pk]}, follow=True)
    assert any("already queued or running" in m for m in _messages(again))


def test_operators_enrich_selected_items_and_watch_the_job(films: list[Item], operator: Any) -> None:
    client = _client(operator)
    chosen = [films[0].pk, films[1].pk]
    response = client.post(reverse("admin:catalog_item_changelist"),
                           {"action": "enrich_items", "_selected_action": chosen}, follow=True)  # fmt: skip
    job = EnrichmentJob.objects.get()
    assert job.origin == EnrichmentJob.Origin.CONSOLE and job.created_by == operator
    assert sorted(job.filter["item_ids"]) == sorted(f.external_id for f in films[:2]) and job.budget_items == 2
    assert any(f">#{job.pk}</a> queued for 2 item(s)" in m for m in _messages(response))
    page = client.get(reverse("admin:curation_enrichmentjob_changelist"))
    assert page.status_code == 200 and "0 / 0 of at most 2" in page.content.decode()


def test_a_viewer_without_item_rights_cannot_start_a_job(films: list[Item], reviewer: Any) -> None:
    response = _client(reviewer).post(reverse("admin:catalog_item_changelist"),
                                      {"action": "enrich_items", "_selected_action": [films[0].pk]})  # fmt: skip
    assert response.status_code == 403 and not EnrichmentJob.objects.exists()


def test_the_prompt_page_shows_what_reviewers_made_of_each_version(
    make_draft: Callable[..., Draft], operator: Any, llm: None
) -> None:
    seed = PromptVersion.objects.get(prompt_id="collection_writer", number=1)
    kept = make_draft(prompt_version=seed)
    rejected = make_draft(prompt_version=seed)
    rejected.evidence = {
        **rejected.evidence,
        "claims": [
            {"part": "note", "text": "", "status": "replaced", "check": "year", "reason": "gives the year 1999 to …"}
        ],
    }
    rejected.save(update_fields=["evidence"])  # fmt: skip
    for draft, decide in ((kept, "approve"), (rejected, "reject")):
        draft = services.draft_claim(draft=draft, by=operator)
        if decide == "approve":
            content = {**draft.content, "title": "Horror Classics of the 70s"}
            draft = services.draft_edit(draft=draft, by=operator, revision=draft.revision, content=content)
            services.draft_approve(draft=draft, by=operator, revision=draft.revision)
        else:
            services.draft_reject(draft=draft, by=operator, revision=draft.revision, reason="wrong year")
    rows = {(row.version, row.check): row for row in review_feedback("collection_writer")}
    overall, year = rows[(1, "")], rows[(1, "year")]
    assert (overall.drafts, overall.approved, overall.edited, overall.rejected) == (2, 1, 1, 1)
    assert overall.mean_edit_distance is not None and 0 < overall.mean_edit_distance < 0.5
    assert (year.drafts, year.rejected) == (1, 1)
    page = _client(operator).get(reverse("admin:llmops_prompt_change", args=["collection_writer"]))
    text = page.content.decode()
    assert "What reviewers made of its drafts" in text and "year" in text and "(50%)" in text
