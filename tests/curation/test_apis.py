"""Published collections through the API and in recommendations; explanations on request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from curation import services
from curation.models import Brief, Draft, DraftItem, EnrichmentJob
from recsys_app.catalog.models import EndUser, Interaction, Item
from recsys_app.llmops.models import Trace
from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.explanations import explanation_phrase, signal_phrases, unsupported_claim
from recsys_app.ranking.models import Explanation, Surface
from recsys_app.ranking.serving import PHRASED_PER_PAGE
from recsys_app.safety.grounding import repetition
from tests.world import World

OUTDOOR = ["tents-1", "tents-3", "stoves-2"]


def _published(operator: Any, ids: list[str], **publish: Any) -> Draft:
    brief = Brief.objects.create(theme="a weekend outdoors", status=Brief.Status.DRAFTED)
    items = {item.external_id: item for item in Item.objects.filter(external_id__in=ids)}
    content = {"title": "Weekend Outdoors", "description": "Light gear for two nights under the stars.",
               "notes": [{"item_id": i, "note": f"Packs small: {items[i].title}."} for i in ids]}  # fmt: skip
    draft = Draft.objects.create(kind=Draft.Kind.COLLECTION, brief=brief, number=1, generated=content,
                                 content=content, writer="model", model="smollm2-135m")  # fmt: skip
    for n, external_id in enumerate(ids, start=1):
        DraftItem.objects.create(draft=draft, item=items[external_id], position=n, score=1.0, sources=["lexical"])
    draft = services.draft_claim(draft=draft, by=operator)
    draft = services.draft_approve(draft=draft, by=operator, revision=draft.revision)
    return services.collection_publish(draft=draft, by=operator, **publish)


def test_published_collections_are_listed_labelled_and_detailed(
    world: World, operator: Any, serve_client: APIClient
) -> None:
    live = _published(operator, OUTDOOR)
    _published(operator, ["coffee-1", "coffee-2"], starts_at=timezone.now() + timedelta(days=2))  # not yet
    body = serve_client.get("/api/v1/collections").json()
    assert [c["id"] for c in body["collections"]] == [live.pk]
    summary = body["collections"][0]
    assert summary["generated"] is True and summary["items"] == 3
    assert summary["provenance"]["model"] == "smollm2-135m" and summary["provenance"]["approved_by"] == "op"
    detail = serve_client.get(f"/api/v1/collections/{live.pk}").json()
    assert [e["item_id"] for e in detail["entries"]] == OUTDOOR and detail["entries"][0]["note"].startswith("Packs")
    assert detail["entries"][0]["position"] == 1 and detail["generated"] is True


def test_a_collection_reaches_only_its_audience(world: World, operator: Any, serve_client: APIClient) -> None:
    draft = _published(operator, OUTDOOR, audience={"categories": ["Outdoor"]})
    fans = serve_client.get("/api/v1/collections", {"user_id": "shopper-2"}).json()  # shopper-2 likes tents
    others = serve_client.get("/api/v1/collections", {"user_id": "shopper-0"}).json()  # coffee
    stranger = serve_client.get("/api/v1/collections", {"user_id": "nobody"}).json()
    assert [c["id"] for c in fans["collections"]] == [draft.pk]
    assert others["collections"] == [] and stranger["collections"] == []


def test_unpublished_collections_are_gone(world: World, operator: Any, serve_client: APIClient) -> None:
    draft = services.collection_unpublish(draft=_published(operator, OUTDOOR), by=operator)
    assert serve_client.get(f"/api/v1/collections/{draft.pk}").status_code == 404
    assert serve_client.get("/api/v1/collections").json()["collections"] == []


def test_collections_need_the_serve_scope(world: World, anon_client: APIClient, ingest_client: APIClient) -> None:
    assert anon_client.get("/api/v1/collections").status_code == 401
    assert ingest_client.get("/api/v1/collections").status_code == 403


def test_a_published_collection_becomes_a_candidate_source(
    world: World, operator: Any, serve_client: APIClient
) -> None:
    # Without the creator cap, the small shop's three makers do not cut the page to nine items.
    Surface.objects.create(name="home", config={**DEFAULT_SURFACES["home"].model_dump(), "creator_cap": None})
    before = serve_client.get("/api/v1/recommendations", {"user_id": "shopper-0", "k": 20}).json()
    assert not any("collections" in item["sources"] for item in before["items"])
    _published(operator, OUTDOOR)
    after = serve_client.get("/api/v1/recommendations", {"user_id": "shopper-0", "k": 20}).json()
    from_collection = {item["item_id"] for item in after["items"] if "collections" in item["sources"]}
    assert from_collection == set(OUTDOOR), (after["degraded"], after["items"])
    carousel = serve_client.get("/api/v1/recommendations", {"user_id": "shopper-0", "surface": "collections"}).json()
    assert {item["item_id"] for item in carousel["items"]} == set(OUTDOOR)


@pytest.mark.parametrize("mode", ["signals", "model"])
def test_explanations_state_only_the_signals(
    world: World, operator: Any, serve_client: APIClient, llm: None, mode: str
) -> None:
    Surface.objects.create(name="home", config={**DEFAULT_SURFACES["home"].model_dump(), "creator_cap": None})
    _published(operator, OUTDOOR)
    EndUser.objects.filter(external_id="shopper-0").update(consent_generative=True)  # explain=model needs it
    params = {"user_id": "shopper-0", "k": 20, "explain": mode}
    body = serve_client.get("/api/v1/recommendations", params).json()
    assert not Trace.objects.filter(name="explanation").exists(), "no request waits for the model"
    if mode == "model":  # the worker's half: each queued explanation phrased once
        queued = Explanation.objects.filter(mode="model", provenance__phrasing="queued")
        assert queued.count() == min(PHRASED_PER_PAGE, len(body["items"]))
        for explanation_id in queued.values_list("pk", flat=True):
            assert explanation_phrase(explanation_id=explanation_id) is not None
            assert explanation_phrase(explanation_id=explanation_id) is None, "phrased once"
        body = serve_client.get("/api/v1/recommendations", params).json()
    liked = set(Interaction.objects.filter(user__external_id="shopper-0").values_list("item__title", flat=True))
    for item in body["items"]:
        explanation, signals = item["explanation"], item["explanation"]["signals"]
        assert signals["source"] == item["reason"]["source"]
        assert set(signals.get("liked", [])) <= liked, "only the user's own history is cited"
        if explanation["phrased_by"] == "model":
            allowed = " ".join([item["title"], *signals.get("liked", []), signals.get("category", ""),
                                signals.get("collection", "")])  # fmt: skip
            assert unsupported_claim(explanation["text"], allowed) is None and explanation["generated"] is True
        else:
            assert explanation["text"] and explanation["generated"] is False
    if mode == "signals":
        collected = [i["explanation"]["text"] for i in body["items"] if i["reason"]["source"] == "collections"]
        assert collected and collected[0] == "Featured in the collection 'Weekend Outdoors'."
        assert all(i["explanation"]["phrased_by"] == "template" for i in body["items"])
    user = EndUser.objects.get(external_id="shopper-0")
    phrased = min(PHRASED_PER_PAGE, len(body["items"])) if mode == "model" else 0
    assert Explanation.objects.filter(user=user, mode="model").count() == phrased, "model calls are bounded"
    assert Explanation.objects.filter(user=user, mode="signals").count() == len(body["items"]) - phrased
    again = serve_client.get("/api/v1/recommendations", params).json()
    assert [i["explanation"] for i in again["items"]] == [i["explanation"] for i in body["items"]], "cached"


def test_explain_accepts_only_known_modes(world: World, serve_client: APIClient) -> None:
    response = serve_client.get("/api/v1/recommendations", {"user_id": "shopper-0", "explain": "everything"})
    assert response.status_code == 400 and "explain" in response.json()["error"]["details"]


def test_a_phrasing_that_claims_more_than_the_signals_is_refused() -> None:
    assert unsupported_claim("Because you liked Heat.", "Alien you liked Heat") is None
    assert unsupported_claim("Because you liked Heat and Casino.", "Alien you liked Heat") == "Casino"
    assert unsupported_claim("A hit since 1999.", "Alien you liked Heat") == "1999"


def test_a_phrasing_that_loops_is_refused_and_titles_read_as_written() -> None:
    assert repetition("You liked Fly, The, and Tron, and you liked Tron") == "repeats 'you liked'"
    assert repetition("Because you liked The Fly and Tron.") is None
    phrases = signal_phrases({"source": "covisit", "liked": ["Fly, The", "Tron"]})
    assert phrases == ["you liked The Fly", "you liked Tron"]


def test_catalog_clients_start_and_follow_enrichment_jobs(
    films: list[Item], ingest_client: APIClient, serve_client: APIClient
) -> None:
    body = {"filter": {"category": "Horror"}, "budget": {"items": 2, "tokens": 5000}}
    created = ingest_client.post("/api/v1/enrichment-jobs", body, format="json")
    assert created.status_code == 202, created.content
    job = created.json()
    assert job["status"] == "queued" and job["budget"] == {"items": 2, "tokens": 5000} and job["origin"] == "api"
    assert job["filter"] == {"category": "Horror"} and "review" in job["review"]
    detail = ingest_client.get(f"/api/v1/enrichment-jobs/{job['id']}")
    assert detail.status_code == 200 and detail.json()["id"] == job["id"]
    bad = ingest_client.post("/api/v1/enrichment-jobs", {"filter": {"colour": "red"}}, format="json")
    assert bad.status_code == 400 and "filter: colour: Extra inputs are not permitted" in bad.json()["error"]["message"]
    assert ingest_client.post("/api/v1/enrichment-jobs", {"budget": {"items": -1}}, format="json").status_code == 400
    assert ingest_client.post("/api/v1/enrichment-jobs", [1], format="json").status_code == 400
    assert ingest_client.get("/api/v1/enrichment-jobs/999999").status_code == 404
    assert serve_client.post("/api/v1/enrichment-jobs", body, format="json").status_code == 403
    assert EnrichmentJob.objects.count() == 1, "refused requests create nothing"
