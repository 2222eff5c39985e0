"""The dashboard's figures come from the rows the product writes; the preview shows every
surface with sources, scores, rules and explanations, and two variants side by side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recsys_app.catalog.models import Impression
from recsys_app.catalog.services import interactions_ingest
from recsys_app.console.dashboard import _ENGAGEMENT, WINDOW_DAYS, _rows, engagement_panel, latency_panel, llm_panel
from recsys_app.evaluation.models import EvaluationRun
from recsys_app.llmops.models import Trace
from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.experiments import CLICK_TYPES, CONVERSION_TYPES, experiment_start
from recsys_app.ranking.models import BusinessRule, Experiment
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.safety.fairness import exposure_daily_compute
from tests.world import World


def _serve_and_click(user: str, *, clicks: int, purchases: int = 0) -> None:
    served = recommendations_serve(request=RecommendationRequest(surface="home", k=10, user_external_id=user))
    events = [{"user_id": user, "item_id": item.external_id, "type": "click", "request_id": str(served.request_id),
               "timestamp": timezone.now().isoformat()} for item in served.items[:clicks]]  # fmt: skip
    events += [{**event, "type": "purchase"} for event in events[:purchases]]
    assert interactions_ingest(rows=events).rejected == 0


def test_engagement_and_latency_are_computed_from_impressions_and_events(world: World) -> None:
    _serve_and_click("shopper-0", clicks=3, purchases=1)
    _serve_and_click("shopper-1", clicks=1)
    since = timezone.now() - timedelta(days=WINDOW_DAYS)
    figures = engagement_panel(since)
    shown = Impression.objects.count()
    assert shown >= 10 and figures["impressions"] == shown
    assert "home" in str(figures["ctr_surface"]) and "<polyline" in str(figures["ctr_surface"])
    rows = _rows(_ENGAGEMENT, {"since": since, "clicks": list(CLICK_TYPES), "conversions": list(CONVERSION_TYPES),
                               "population": "all"})  # type: ignore[arg-type]
    today = timezone.now().date()
    assert [(r[0], r[1], r[4], r[5], r[6]) for r in rows] == [(today, "home", shown, 4, 1)], "4 clicked, 1 bought"
    latency = Impression.objects.filter(position=1).values_list("latency_ms", flat=True)
    assert len(latency) == 2 and all(value is not None and value > 0 for value in latency)
    assert "home p95" in str(latency_panel(since)["chart"])


def test_llm_panel_sums_calls_tokens_cost_hits_and_errors(db: None) -> None:
    for n in range(4):
        Trace.objects.create(name="collection_writer", tokens_in=100, tokens_out=20, cost="0.001",
                             cache_hit="exact" if n == 0 else "", status="error" if n == 3 else "ok")  # fmt: skip
    Trace.objects.create(name="span", kind=Trace.Kind.SPAN)
    figures = llm_panel(timezone.now() - timedelta(days=1))
    assert (figures["calls"], figures["errors"], round(figures["cost"], 6)) == (4, 1, 0.004)
    assert "Cache-hit rate" in str(figures["cache_chart"])


def test_dashboard_page_shows_every_panel(world: World, cast: dict[str, Any]) -> None:
    _serve_and_click("shopper-2", clicks=2)
    exposure_daily_compute(day=timezone.now().date())
    EvaluationRun.objects.create(status=EvaluationRun.Status.DONE, finished_at=timezone.now(),
                                 results={"popularity": {"ndcg@10": 0.1}, "pipeline": {"ndcg@10": 0.2}})  # fmt: skip
    client = Client()
    client.force_login(cast["viewer"])
    html = client.get(reverse("console:dashboard")).content.decode()
    for panel in ("catalog", "engagement", "experiments", "latency", "llm", "review", "evaluation", "fairness"):
        assert f'id="panel-{panel}"' in html
    assert html.count("<svg") >= 10 and "NDCG@10 by recommender" in html and "pipeline" in html
    assert "<strong>25</strong>items" in html, "the catalog tile counts the world's 25 items"


def test_preview_shows_every_surface_history_rules_and_explanations(world: World, cast: dict[str, Any]) -> None:
    BusinessRule.objects.create(name="coffee week", action=BusinessRule.Action.BOOST, category="Kitchen/Coffee",
                                amount=0.5)  # fmt: skip
    client = Client()
    client.force_login(cast["viewer"])
    html = client.get(reverse("console:preview"), {"user": "shopper-0"}).content.decode()
    for surface in DEFAULT_SURFACES:
        assert f'id="surface-{surface}"' in html
    assert "boost: coffee week" in html, "the rule that lifted an item is named beside it"
    assert 'id="history"' in html and "Espresso machine" in html
    assert "liked" in html or "because" in html.lower() or "popular" in html.lower(), "explanations on home"
    assert Impression.objects.count() == 0, "a preview logs no impressions"
    missing = client.get(reverse("console:preview"), {"user": "nobody"}).content.decode()
    assert "no end user with external id &#x27;nobody&#x27;" in missing


def test_preview_compares_two_variants_side_by_side(world: World, cast: dict[str, Any], operator: Any) -> None:
    experiment = Experiment.objects.create(name="diverse", surface="home", salt="x", variants=[
        {"name": "control", "weight": 1, "config": {}},
        {"name": "trending-only", "weight": 1, "config": {"sources": {"trending": {"weight": 1.0}}}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    client = Client()
    client.force_login(cast["viewer"])
    response = client.get(reverse("console:preview"), {"user": "shopper-0", "a": "control", "b": "trending-only"})
    compare = response.context["compare"]
    left, right = compare["sides"]
    assert not left.error and not right.error, (left.error, right.error)
    assert left.response.variant == "control" and right.response.variant == "trending-only"
    assert {tuple(i.sources) for i in right.response.items} == {("trending",)}
    assert [i.external_id for i in left.response.items] != [i.external_id for i in right.response.items]
    assert 'id="compare"' in response.content.decode()
    bad = client.get(reverse("console:preview"), {"user": "shopper-0", "a": "control", "b": "nope"})
    assert "&#x27;nope&#x27; is not a variant of diverse" in bad.content.decode()
