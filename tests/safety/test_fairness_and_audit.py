"""Exposure figures (daily, per experiment variant, API, console page) and the audit log
(append-only in the database; written by every console change that alters what users see)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from recsys_app.catalog.models import Impression, Item
from recsys_app.catalog.services import creators_upsert, items_upsert
from recsys_app.ranking.models import BusinessRule, Experiment, Surface
from recsys_app.ranking.surfaces import surface_config
from recsys_app.retrieval.stats import item_stats_refresh
from recsys_app.safety.audit import audit_record
from recsys_app.safety.fairness import exposure_compare, exposure_daily_compute, gini
from recsys_app.safety.models import AuditEntry, ExposureDaily


@pytest.fixture
def shop(db: None) -> list[Item]:
    """Ten items: the first two by a 'large' creator, the rest by a 'small' one."""
    creators_upsert(rows=[{"external_id": "big", "group": "large"}, {"external_id": "indie", "group": "small"}])
    rows = [{"external_id": f"i{n}", "title": f"Item {n}", "creator_id": "big" if n < 2 else "indie"}
            for n in range(10)]  # fmt: skip
    assert not items_upsert(rows=rows).errors
    item_stats_refresh()
    return list(Item.objects.order_by("external_id"))


def _show(items: list[Item], counts: list[int], *, experiment: str = "", variant: str = "") -> None:
    when = timezone.now()
    Impression.objects.bulk_create(
        Impression(request_id=uuid.uuid4(), recommendation_id=uuid.uuid4(), item=item, surface="home", position=1,
                   shown_at=when, experiment=experiment, variant=variant)
        for item, count in zip(items, counts, strict=False) for _ in range(count)
    )  # fmt: skip


def test_gini_is_zero_for_equal_exposure_and_near_one_when_one_item_takes_all() -> None:
    assert gini(np.array([5, 5, 5, 5])) == 0.0
    assert gini(np.array([0, 0, 0, 12])) == pytest.approx(0.75)
    assert gini(np.array([0, 0])) == 0.0


def test_daily_exposure_compares_impression_and_catalog_shares(
    shop: list[Item], token_client: Callable[..., APIClient]
) -> None:
    _show(shop, [6, 2, 1, 1])  # the large creator's two items take 8 of 10 impressions
    assert exposure_daily_compute(day=timezone.localdate()) == 1
    row = ExposureDaily.objects.get()
    assert (row.impressions, row.items_shown, row.catalog_items, row.coverage) == (10, 4, 10, 0.4)
    large = row.groups["creator_group"]["large"]
    assert (large["impression_share"], large["catalog_share"]) == (0.8, 0.2)
    assert row.gini == pytest.approx(gini(np.array([6, 2, 1, 1, 0, 0, 0, 0, 0, 0])), abs=1e-4)
    assert set(row.groups["popularity_band"]) == {"head", "mid", "tail"}
    api = token_client("admin").get("/api/v1/fairness/exposure?surface=home").json()["exposure"]
    assert api[0]["gini"] == row.gini and api[0]["groups"]["creator_group"]["large"]["impressions"] == 8
    assert token_client("serve").get("/api/v1/fairness/exposure").status_code == 403
    bad = token_client("admin").get("/api/v1/fairness/exposure?days=0")
    assert bad.status_code == 400 and "days" in str(bad.json())


def test_experiment_variants_are_compared_on_exposure(shop: list[Item]) -> None:
    _show(shop, [5, 5], experiment="caps", variant="control")
    _show(shop, [1] * 10, experiment="caps", variant="spread")
    since = timezone.now() - timedelta(hours=1)
    variants = exposure_compare(experiment="caps", since=since, until=timezone.now() + timedelta(hours=1))
    assert variants["control"]["coverage"] == 0.2 and variants["spread"]["coverage"] == 1.0
    assert variants["spread"]["gini"] == 0.0 < variants["control"]["gini"]


def test_the_audit_log_refuses_updates_and_deletes_in_the_database(operator: Any) -> None:
    entry = audit_record(actor=operator, action="rule.change", target=("ranking.BusinessRule", "1"), after={"a": 1})
    for attempt in (lambda: AuditEntry.objects.filter(pk=entry.pk).update(summary="x"),
                    lambda: AuditEntry.objects.filter(pk=entry.pk).delete()):  # fmt: skip
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).actor_name == "op"


def test_console_changes_to_rules_experiments_and_caps_are_audited(shop: list[Item], operator: Any) -> None:
    client = Client()
    client.force_login(operator)
    created = client.post("/ranking/businessrule/add/", {
        "name": "bury-i1", "action": "bury", "item": shop[1].pk, "amount": "0.5",
        "starts_at_0": "2026-01-01", "starts_at_1": "00:00:00", "is_active": "on",
    })  # fmt: skip
    assert created.status_code == 302, created.content[:2000]
    rule = BusinessRule.objects.get(name="bury-i1")
    client.post(f"/ranking/businessrule/{rule.pk}/change/", {
        "name": "bury-i1", "action": "bury", "item": shop[1].pk, "amount": "0.9",
        "starts_at_0": "2026-01-01", "starts_at_1": "00:00:00",
    })  # fmt: skip
    change = AuditEntry.objects.get(action="rule.change")
    assert change.before["amount"] == 0.5 and change.after["amount"] == 0.9 and change.before["is_active"]
    assert change.after["is_active"] is False and change.actor_name == "op"

    variants = [{"name": "a", "weight": 50, "config": {}}, {"name": "b", "weight": 50, "config": {"creator_cap": 1}}]
    experiment = Experiment.objects.create(name="caps", surface="home", variants=variants)
    client.post("/ranking/experiment/", {"action": "start", "_selected_action": [experiment.pk]})
    client.post("/ranking/experiment/", {"action": "stop", "_selected_action": [experiment.pk]})
    assert list(AuditEntry.objects.filter(target_type="ranking.Experiment").values_list("action", flat=True)) == [
        "experiment.stop", "experiment.start"]  # fmt: skip

    page = client.post("/safety/exposuredaily/", {"surface": "home", "creator_cap": "1"}, follow=True)
    assert (page.status_code == 200 and b"<svg" in page.content) or b"no data yet" in page.content
    assert surface_config("home").creator_cap == 1 and Surface.objects.filter(name="home").exists()
    cap = AuditEntry.objects.get(action="surface.creator_cap")
    assert (cap.before, cap.after) == ({"creator_cap": 3}, {"creator_cap": 1})


def test_viewers_see_the_fairness_page_but_cannot_change_caps(shop: list[Item], viewer: Any) -> None:
    viewer.user_permissions.add(Permission.objects.get(codename="view_exposuredaily"))
    client = Client()
    client.force_login(viewer)
    _show(shop, [3, 1])
    exposure_daily_compute(day=timezone.localdate())
    page = client.get("/safety/exposuredaily/")
    assert page.status_code == 200 and b"<svg" in page.content and b"creator group" in page.content
    refused = client.post("/safety/exposuredaily/", {"surface": "home", "creator_cap": "1"}, follow=True)
    assert b"You may not change surfaces" in refused.content and not AuditEntry.objects.exists()
