"""Roles as groups: what each may see and do, page by page, and what it is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from curation.models import Draft
from recsys_app.console.roles import console_user_ensure, roles_sync
from recsys_app.llmops.models import LabelChange, PromptVersion, Trace
from recsys_app.ops.models import TaskRun
from recsys_app.ranking.models import Experiment

PAGES = [
    reverse("console:dashboard"),
    reverse("console:preview"),
    reverse("admin:curation_draft_changelist"),
    reverse("admin:llmops_prompt_changelist"),
    reverse("admin:llmops_promptversion_changelist"),
    reverse("admin:ranking_experiment_changelist"),
    reverse("admin:ops_taskrun_changelist"),
    reverse("admin:safety_exposuredaily_changelist"),
    reverse("admin:llmops_trace_changelist"),
    reverse("admin:catalog_item_changelist"),
]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_roles_hold_exactly_their_rights(cast: dict[str, Any]) -> None:
    viewer, reviewer, operator, admin = (cast[r] for r in ("viewer", "reviewer", "operator", "admin"))
    assert viewer.has_perm("catalog.view_item") and viewer.has_perm("llmops.view_trace")
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in viewer.get_all_permissions())
    assert not viewer.has_perm("safety.view_deletionrequest"), "erasure requests name people: admins only"
    assert reviewer.has_perm("curation.review_draft") and not reviewer.has_perm("curation.publish_draft")
    assert operator.has_perm("curation.publish_draft") and operator.has_perm("ranking.change_experiment")
    assert operator.has_perm("ops.add_taskrun") and not operator.has_perm("curation.review_draft")
    assert not operator.has_perm("auth.change_user") and not operator.has_perm("catalog.delete_enduser")
    assert admin.has_perm("auth.change_user") and admin.has_perm("catalog.delete_enduser")
    assert not any(u.is_superuser for u in cast.values())


def test_roles_sync_is_idempotent_and_restores_a_tampered_group(cast: dict[str, Any]) -> None:
    first = roles_sync()
    Group.objects.get(name="viewer").permissions.clear()
    assert roles_sync() == first
    assert cast["viewer"].groups.get().permissions.count() == first["viewer"]


def test_unknown_role_is_refused(db: None) -> None:
    with pytest.raises(ValueError, match=r"unknown role.*boss"):
        console_user_ensure(username="x", password="long-enough-1", roles=["boss"])


@pytest.mark.parametrize("role", ["viewer", "reviewer", "operator", "admin"])
def test_every_role_can_open_every_page(cast: dict[str, Any], role: str) -> None:
    client = _client(cast[role])
    for url in [*PAGES, _experiment_page()]:
        assert client.get(url).status_code == 200, url


def _experiment_page() -> str:
    experiment = Experiment.objects.create(name="roles", surface="home", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1}])  # fmt: skip
    return reverse("console:experiment", args=[experiment.pk])


def test_staff_without_a_role_is_refused_every_page(viewer: Any, outsider: Any) -> None:
    staff, anonymous = _client(viewer), Client()
    for url in [*PAGES, _experiment_page()]:
        assert staff.get(url).status_code == 403, url
        assert anonymous.get(url).status_code == 302, url
    assert _client(outsider).get(PAGES[0]).status_code == 302, "not staff: sent to the login page"


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("reviewer", False), ("operator", True), ("admin", True)])
def test_only_operators_start_jobs(cast: dict[str, Any], role: str, allowed: bool) -> None:
    response = _client(cast[role]).post(reverse("console:jobs_start"), {"job": "stats"})
    assert response.status_code == (302 if allowed else 403)
    queued = TaskRun.objects.filter(task_name="recsys_app.retrieval.tasks.item_stats_refresh_task")
    assert queued.exists() == allowed
    if allowed:
        assert queued.get().status == TaskRun.Status.QUEUED and queued.get().requested_by == cast[role]


def test_a_reviewer_may_review_but_not_publish(cast: dict[str, Any], make_draft: Callable[..., Draft]) -> None:
    draft = make_draft()
    client = _client(cast["reviewer"])
    url = reverse("admin:curation_draft_review", args=[draft.pk])
    client.post(url, {"action": "claim"})
    form = {
        "title": "Horror Classics",
        "description": draft.content["description"],
        "keep": ["film-1"],
        "note:film-1": "A classic.",
    }
    client.post(url, {"action": "approve", "revision": draft.revision, **form})
    draft.refresh_from_db()
    assert draft.status == Draft.Status.APPROVED
    page = client.get(url).content.decode()
    assert 'id="publish"' not in page, "no publish button for a reviewer"
    client.post(url, {"action": "publish", "audience": "{}"})
    draft.refresh_from_db()
    assert draft.status == Draft.Status.APPROVED, "the service refuses too, not only the button"
    operator = _client(cast["operator"])
    assert 'id="publish"' in operator.get(url).content.decode()
    operator.post(url, {"action": "publish", "audience": "{}"})
    draft.refresh_from_db()
    assert draft.status == Draft.Status.PUBLISHED


def test_a_viewer_cannot_promote_a_prompt_or_run_the_playground(cast: dict[str, Any], llm: None) -> None:
    version = PromptVersion.objects.filter(prompt_id="collection_writer").order_by("number").first()
    assert version is not None
    labels_before, traces_before = LabelChange.objects.count(), Trace.objects.count()
    client = _client(cast["viewer"])
    changelist = reverse("admin:llmops_promptversion_changelist")
    assert "to_production" not in client.get(changelist).content.decode(), "the action is not offered"
    client.post(changelist, {"action": "to_production", "_selected_action": [version.pk]})
    playground = client.post(reverse("admin:llmops_promptversion_playground", args=[version.pk]),
                             {"variables": json.dumps(version.examples[0]["input"]), "run": "1"})  # fmt: skip
    assert playground.status_code == 200 and "rendered" in playground.context, "rendering is allowed"
    assert LabelChange.objects.count() == labels_before
    assert Trace.objects.count() == traces_before, "no model call for a viewer"


def test_a_viewer_cannot_start_an_experiment(cast: dict[str, Any]) -> None:
    variants = [{"name": "a", "weight": 1, "config": {}}, {"name": "b", "weight": 1, "config": {"diversity": 0.0}}]
    experiment = Experiment.objects.create(name="exp-1", surface="home", salt="s", variants=variants)
    changelist = reverse("admin:ranking_experiment_changelist")
    _client(cast["viewer"]).post(changelist, {"action": "start", "_selected_action": [experiment.pk]})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.DRAFT
    _client(cast["operator"]).post(changelist, {"action": "start", "_selected_action": [experiment.pk]})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING


@pytest.mark.parametrize("role,allowed", [("viewer", False), ("reviewer", False), ("operator", True), ("admin", True)])
def test_only_operators_replay_an_experiment(cast: dict[str, Any], role: str, allowed: bool) -> None:
    from recsys_app.evaluation.models import EvaluationRun

    experiment = Experiment.objects.create(name="replayed", surface="home", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1, "config": {"diversity": 0.5}}])  # fmt: skip
    response = _client(cast[role]).post(reverse("console:experiment_replay", args=[experiment.pk]))
    assert response.status_code == (302 if allowed else 403)
    replays = EvaluationRun.objects.filter(params__kind="replay", params__experiment="replayed")
    assert replays.exists() == allowed
    if allowed:
        page = _client(cast[role]).get(reverse("console:experiment", args=[experiment.pk])).content.decode()
        assert f"Run #{replays.get().pk}: pending" in page
