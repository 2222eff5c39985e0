"""Export and erasure of an end user (API and service), retention, consent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import ChatSession
from recsys_app.catalog.models import EndUser, Impression, Interaction, Item
from recsys_app.catalog.services import end_users_upsert, interactions_ingest
from recsys_app.llmops.models import CacheEntry, Trace
from recsys_app.llmops.tracing import trace_record, trace_span, trace_subject
from recsys_app.retrieval.interactions import weighted_events
from recsys_app.retrieval.models import ItemStats
from recsys_app.retrieval.stats import item_stats_refresh
from recsys_app.safety.models import AuditEntry, DeletionRequest
from recsys_app.safety.privacy import retention_enforce, subject_hash, user_delete, user_export
from tests.factories import event_row, make_catalog


@pytest.fixture
def people(db: None) -> None:
    """u1 and u2 both liked i1; u1 also i2; u1 chatted, and a model call was made about u1."""
    make_catalog(items=3, users=2)
    events = [
        event_row("u1", "i1", type="like"),
        event_row("u1", "i2", type="like"),
        event_row("u2", "i1", type="like"),
    ]
    assert interactions_ingest(rows=events).rejected == 0
    item_stats_refresh()
    u1 = EndUser.objects.get(external_id="u1")
    ChatSession.objects.create(end_user=u1, memory={"constraints": {"price_max": "20"}})
    Impression.objects.create(request_id=uuid.uuid4(), recommendation_id=uuid.uuid4(), user=u1, user_external_id="u1",
                              item=Item.objects.get(external_id="i3"), surface="home", position=1)  # fmt: skip
    with trace_subject("u1"), trace_span("agent turn 1", message="I love horror") as span:
        trace_record(name="agent_reply", input={"messages": [{"role": "user", "content": "I love horror"}]},
                     output="Try Alien.")  # fmt: skip
    CacheEntry.objects.create(key="k1", model="m", input_text="I love horror", response={"text": "Try Alien."})
    assert span.attributes["subject"] == "u1"


def test_the_export_holds_every_row_about_the_user_and_their_traces(people: None) -> None:
    export = user_export(user=EndUser.objects.get(external_id="u1"))
    assert export["user"]["external_id"] == "u1"
    data = export["data"]
    assert len(data["catalog.Interaction"]) == 2 and len(data["catalog.Impression"]) == 1
    assert data["agents.ChatSession"][0]["memory"] == {"constraints": {"price_max": "20"}}
    assert sorted(t["name"] for t in export["traces"]) == ["agent turn 1", "agent_reply"]
    assert "u2" not in json.dumps(data), "nothing of anyone else"


def test_erasure_over_the_api_removes_everything_and_keeps_aggregates_consistent(
    people: None, token_client: Callable[..., APIClient]
) -> None:
    client = token_client("admin")
    queued = client.post("/api/v1/users/u1/deletion")
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    request_id = queued.json()["id"]
    assert client.post("/api/v1/users/u1/deletion").json()["id"] == request_id, "an open request is reused"
    user_delete(request_id=request_id)  # what the worker runs (tests/ops proves the worker path)

    done = client.get(f"/api/v1/deletions/{request_id}").json()
    assert done["status"] == "done" and done["counts"]["catalog.Interaction"] == 2
    assert done["counts"]["traces redacted"] == 2 and done["counts"]["agents.ChatSession"] == 1
    assert not EndUser.objects.filter(external_id="u1").exists()
    assert Interaction.objects.count() == 1 and not Impression.objects.filter(user_external_id="u1").exists()
    assert ItemStats.objects.get(item__external_id="i1").popularity == 1, "u2's like still counts, u1's no more"
    assert ItemStats.objects.get(item__external_id="i2").popularity == 0
    for trace in Trace.objects.all():
        assert "horror" not in json.dumps(trace.input) + trace.output and trace.attributes.get("redacted")
    assert not CacheEntry.objects.exists(), "cached answers to their words go too"
    request = DeletionRequest.objects.get(pk=request_id)
    assert request.user_external_id == "" and request.subject_hash == subject_hash("u1")
    entry = AuditEntry.objects.get(action="enduser.delete")
    assert entry.after["removed"]["catalog.Interaction"] == 2 and "u1" not in json.dumps(entry.after)
    assert user_delete(request_id=request_id).status == "done", "a second delivery does nothing"


def test_privacy_endpoints_name_what_is_wrong_and_need_the_admin_scope(
    people: None, token_client: Callable[..., APIClient], anon_client: APIClient
) -> None:
    admin = token_client("admin")
    missing = admin.post("/api/v1/users/nobody/deletion")
    assert missing.status_code == 404 and "no end user 'nobody'" in missing.json()["error"]["message"]
    assert admin.get("/api/v1/users/nobody/export").status_code == 404
    assert admin.get("/api/v1/users/u1/export").json()["user"]["external_id"] == "u1"
    for client in (token_client("serve"), token_client("ingest")):
        assert client.get("/api/v1/users/u1/export").status_code == 403
        assert client.post("/api/v1/users/u1/deletion").status_code == 403
    assert anon_client.get("/api/v1/users/u1/export").status_code in (401, 403)
    assert DeletionRequest.objects.count() == 0


def test_a_failed_erasure_leaves_everything_in_place(people: None) -> None:
    """The erasure is one transaction: if any step fails, nothing is removed."""
    from recsys_app.safety.privacy import deletion_request

    request = deletion_request(external_id="u1")
    with connection.cursor() as cursor:  # make the last step (recomputing item stats) fail
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own pending checks first
        cursor.execute("ALTER TABLE retrieval_itemstats ADD CONSTRAINT no_updates CHECK (popularity > 99) NOT VALID")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    with pytest.raises(Exception, match="no_updates"):
        user_delete(request_id=request.pk)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE retrieval_itemstats DROP CONSTRAINT no_updates")
    assert DeletionRequest.objects.get(pk=request.pk).status == "failed"
    assert Interaction.objects.filter(user__external_id="u1").count() == 2
    assert Trace.objects.filter(attributes__subject="u1").exists()


def test_retention_deletes_old_events_and_impressions_only_when_set(people: None) -> None:
    old = timezone.now() - timedelta(days=400)
    Impression.objects.update(shown_at=old)
    Interaction.objects.filter(user__external_id="u2").update(occurred_at=old)
    Interaction.objects.filter(user__external_id="u1").update(occurred_at=timezone.now())
    assert retention_enforce()["impressions"] == 1, "impressions: 180 days by default"
    assert Interaction.objects.count() == 3, "events are kept by default (EVENTS_RETENTION_DAYS=0)"
    with override_settings(EVENTS_RETENTION_DAYS=365):
        assert retention_enforce()["interactions"] == 1
    assert set(Interaction.objects.values_list("user__external_id", flat=True)) == {"u1"}


def test_users_who_opt_out_of_training_are_left_out_of_it(people: None) -> None:
    end_users_upsert(rows=[{"external_id": "u2", "consent_training": False}])
    users = set(weighted_events()["user_id"])
    assert users == {EndUser.objects.get(external_id="u1").pk}
