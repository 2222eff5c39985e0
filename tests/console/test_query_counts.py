"""Console pages cost a fixed number of queries, whatever the number of rows they list (no N+1).

Each page is loaded with a few rows of everything, then with more; the counts must not move,
and they are pinned in QUERIES so that a change which adds queries is seen in review.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents.models import ChatSession, ChatTurn
from curation.models import Brief, Draft
from recsys_app.catalog.models import Interaction, Item
from recsys_app.catalog.services import interactions_ingest, items_upsert
from recsys_app.evaluation.models import EvaluationRun
from recsys_app.llmops.models import Prompt, Trace
from recsys_app.llmops.prompts import version_create, version_label
from recsys_app.ops.models import TaskRun
from recsys_app.ranking.models import BusinessRule, Experiment
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.safety.audit import audit_record
from recsys_app.safety.models import ExposureDaily
from tests.factories import item_row, make_catalog

# Queries per page as the `admin` role (session, user, permissions and the nav's groups included).
# The preview serves five surfaces of k=10 items and explains the first: its count is per page shown.
QUERIES = {
    "dashboard": 20,  # the experiments panel lists the running and stopped experiments; simulated counts, newest
    "preview": 43,
    "draft_list": 11,  # the list filter by enrichment job reads the jobs that have drafts
    "draft_review": 11,
    "prompt_list": 8,
    "version_list": 9,
    "route_list": 8,
    "experiment_list": 9,
    "experiment_change": 12,  # results: per unit, exposures, timeline, clicks by provenance, the model side, share
    "experiment_page": 14,  # and the latest simulation job
    "job_list": 11,
    "exposure": 14,
    "trace_list": 13,
    "chat_list": 8,
    "item_list": 12,
    "enduser_list": 11,
    "interaction_list": 13,
    "impression_list": 14,
    "audit_list": 12,
    "brief_list": 8,
    "evalrun_list": 9,
}


def _pages(draft: Draft, experiment: Experiment) -> dict[str, str]:
    return {
        "dashboard": reverse("console:dashboard"),
        "preview": reverse("console:preview") + "?user=u1",
        "draft_list": reverse("admin:curation_draft_changelist"),
        "draft_review": reverse("admin:curation_draft_review", args=[draft.pk]),
        "prompt_list": reverse("admin:llmops_prompt_changelist"),
        "version_list": reverse("admin:llmops_promptversion_changelist"),
        "route_list": reverse("admin:llmops_route_changelist"),
        "experiment_list": reverse("admin:ranking_experiment_changelist"),
        "experiment_change": reverse("admin:ranking_experiment_change", args=[experiment.pk]),
        "experiment_page": reverse("console:experiment", args=[experiment.pk]),
        "job_list": reverse("admin:ops_taskrun_changelist"),
        "exposure": reverse("admin:safety_exposuredaily_changelist"),
        "trace_list": reverse("admin:llmops_trace_changelist"),
        "chat_list": reverse("admin:agents_chatsession_changelist"),
        "item_list": reverse("admin:catalog_item_changelist"),
        "enduser_list": reverse("admin:catalog_enduser_changelist"),
        "interaction_list": reverse("admin:catalog_interaction_changelist"),
        "impression_list": reverse("admin:catalog_impression_changelist"),
        "audit_list": reverse("admin:safety_auditentry_changelist"),
        "brief_list": reverse("admin:curation_brief_changelist"),
        "evalrun_list": reverse("admin:llmops_evalrun_changelist"),
    }


def _grow(n: int, make_draft: Callable[..., Draft], by: Any) -> None:
    """n more rows of everything the pages list."""
    now = timezone.now()
    for k in range(n):
        draft = make_draft()
        audit_record(actor=by, action="draft.edit", target=draft, summary="grown")
        TaskRun.objects.create(task_name="recsys_app.ops.tasks.task_runs_prune", celery_id=f"c{now}{k}",
                               requested_by=by, finished_at=now, status=TaskRun.Status.SUCCEEDED)  # fmt: skip
        Trace.objects.create(name="collection_writer", use_case="curation", tokens_in=10, tokens_out=5)
        Brief.objects.create(theme=f"theme {now} {k}")
        BusinessRule.objects.create(name=f"rule {now} {k}", action=BusinessRule.Action.BOOST, amount=0.1)
        session = ChatSession.objects.create(operator=by)
        ChatTurn.objects.create(session=session, number=1, message="hello")
        EvaluationRun.objects.create(
            status=EvaluationRun.Status.DONE, finished_at=now, results={"pop": {"ndcg@10": 0.1}}
        )
        prompt = Prompt.objects.create(name=f"p-{now:%H%M%S%f}-{k}", use_case="curation")
        version_label(version=version_create(prompt=prompt, template="Hi {{ name }}"), label="staging", by=by)
        ExposureDaily.objects.create(day=(now - timedelta(days=k)).date(), surface=f"s{n}", impressions=10,
                                     items_shown=3, catalog_items=5, gini=0.3, coverage=0.6)  # fmt: skip
    interactions_ingest(rows=[{"user_id": "u2", "item_id": f"i{k % 30 + 1}", "type": ("like", "view", "click")[k % 3],
                               "timestamp": 1_700_000_000 + serial_events(k)} for k in range(n)])  # fmt: skip
    recommendations_serve(request=RecommendationRequest(surface="trending", k=n, user_external_id="u2"))
    serial = Item.objects.count()
    assert not items_upsert(rows=[item_row(f"grown-{serial + k}") for k in range(n)]).errors


def serial_events(k: int) -> int:
    return Interaction.objects.count() * 10 + k


def _counts(client: Client, pages: dict[str, str]) -> dict[str, int]:
    # Big-table lists count exactly below 10,000 estimated rows and use the planner's estimate
    # above: fresh statistics keep that choice (one query against five) from depending on what
    # earlier tests left in pg_class.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_item, catalog_enduser, catalog_interaction, catalog_impression")
    counts = {}
    for name, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    return counts


@pytest.mark.django_db
def test_console_pages_cost_a_fixed_number_of_queries(cast: dict[str, Any], make_draft: Callable[..., Draft],
                                                      llm: None) -> None:  # fmt: skip
    make_catalog(items=30, users=2)  # full preview lists (k=10) from the start: explanations cost per item shown
    events = [{"user_id": "u1", "item_id": f"i{n}", "type": "like", "timestamp": 1_700_000_000 + n} for n in (1, 2)]
    assert interactions_ingest(rows=events).rejected == 0
    admin = cast["admin"]
    experiment = Experiment.objects.create(name="e", surface="home", salt="s", variants=[
        {"name": "a", "weight": 1, "config": {}}, {"name": "b", "weight": 1, "config": {}}])  # fmt: skip
    _grow(2, make_draft, admin)
    pages = _pages(Draft.objects.first(), experiment)  # type: ignore[arg-type]
    client = Client()
    client.force_login(admin)
    _counts(client, pages)  # warm: per-process caches (surfaces, rules), cached explanations
    few = _counts(client, pages)
    _grow(6, make_draft, admin)
    _counts(client, pages)  # new rules: caches refilled, explanations recomputed once
    many = _counts(client, pages)
    assert many == few, {name: (few[name], many[name]) for name in few if few[name] != many[name]}
    assert many == QUERIES
