"""The review workbench: bulk actions after a confirmation page, the queue filters, the diff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from curation import services
from curation.models import Draft
from recsys_app.console.roles import console_user_ensure

CHANGELIST = reverse("admin:curation_draft_changelist")


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _bulk(client: Client, action: str, drafts: list[Draft], **extra: Any) -> Any:
    return client.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [d.pk for d in drafts], **extra},
                       follow=True)  # fmt: skip


def test_bulk_approve_asks_first_then_approves_all_but_a_draft_someone_else_holds(
    cast: dict[str, Any], make_draft: Callable[..., Draft]
) -> None:
    drafts = [make_draft() for _ in range(3)]
    other = console_user_ensure(username="rob", password="rob-password-1", roles=["reviewer"])
    services.draft_claim(draft=drafts[2], by=other)
    client = _client(cast["reviewer"])
    confirm = _bulk(client, "bulk_approve", drafts)
    assert "Yes, approve them" in confirm.content.decode()
    assert not Draft.objects.filter(status=Draft.Status.APPROVED).exists(), "nothing happens before confirming"
    done = _bulk(client, "bulk_approve", drafts, confirm="yes")
    statuses = {d.pk: Draft.objects.get(pk=d.pk).status for d in drafts}
    assert [statuses[d.pk] for d in drafts] == ["approved", "approved", "in_review"]
    message = " ".join(str(m) for m in done.context["messages"])
    assert (
        "approve: 2 draft(s) done" in message
        and f"#{drafts[2].pk}: draft #{drafts[2].pk} is being reviewed by rob" in message
    )


def test_bulk_reject_needs_a_reason_and_leaves_no_claim_behind(cast: dict[str, Any], make_draft: Callable[..., Draft]
                                                               ) -> None:  # fmt: skip
    drafts = [make_draft(), make_draft()]
    client = _client(cast["reviewer"])
    refused = _bulk(client, "bulk_reject", drafts, confirm="yes", reason="  ")
    assert "Reason: say why the drafts are rejected" in refused.content.decode()
    assert set(Draft.objects.values_list("status", flat=True)) == {"pending_review"}
    _bulk(client, "bulk_reject", drafts, confirm="yes", reason="off-theme")
    assert set(Draft.objects.values_list("status", "rejection_reason")) == {("rejected", "off-theme")}


def test_only_operators_assign_in_bulk(cast: dict[str, Any], make_draft: Callable[..., Draft]) -> None:
    drafts = [make_draft(), make_draft()]
    reviewer_page = _client(cast["reviewer"]).get(CHANGELIST).content.decode()
    assert "bulk_approve" in reviewer_page and "bulk_assign" not in reviewer_page
    _bulk(_client(cast["reviewer"]), "bulk_assign", drafts, confirm="yes", reviewer=cast["reviewer"].pk)
    assert not Draft.objects.filter(assigned_to__isnull=False).exists()
    _bulk(_client(cast["operator"]), "bulk_assign", drafts, confirm="yes", reviewer=cast["reviewer"].pk)
    assert Draft.objects.filter(assigned_to=cast["reviewer"]).count() == 2
    mine = _client(cast["reviewer"]).get(CHANGELIST, {"mine": "assigned"})
    assert mine.context["cl"].result_count == 2


def test_review_page_shows_saved_edits_as_a_diff_and_the_keys(cast: dict[str, Any], make_draft: Callable[..., Draft]
                                                              ) -> None:  # fmt: skip
    draft, queued = make_draft(), make_draft()
    reviewer = cast["reviewer"]
    draft = services.draft_claim(draft=draft, by=reviewer)
    content = {**draft.content, "title": "Horror Nights"}
    services.draft_edit(draft=draft, by=reviewer, revision=draft.revision, content=content)
    html = _client(reviewer).get(reverse("admin:curation_draft_review", args=[draft.pk])).content.decode()
    assert "-title: Horror Classics" in html and "+title: Horror Nights" in html
    assert "<kbd>a</kbd> approve" in html and f'id="next">#{queued.pk}' in html
