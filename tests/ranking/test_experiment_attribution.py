"""Experiments over generated surfaces, end to end through the API: prompt versions as variants,
impressions that record what generated the items shown, events attributed to them (request id
or window), results with intervals, the sample-ratio test and the guard."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from curation import services
from curation.models import Brief, Draft, DraftItem
from recsys_app.catalog.models import EndUser, Impression, Item
from recsys_app.catalog.services import end_users_upsert, interactions_ingest
from recsys_app.llmops.models import EvalDataset, EvalRun, Prompt, PromptVersion
from recsys_app.llmops.prompts import version_create, version_for
from recsys_app.ranking.experiment_results import experiment_results
from recsys_app.ranking.experiments import experiment_start, experiment_stop, experiments_guard, validate_variants
from recsys_app.ranking.models import Experiment, ExperimentExposure
from recsys_app.ranking.stats import wilson
from recsys_app.safety.models import AuditEntry
from tests.world import World

OUTDOOR = ["tents-1", "tents-3", "stoves-2"]
COFFEE = ["coffee-0", "coffee-2", "coffee-4"]
TWO = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]


def _gate_passed(version: PromptVersion) -> PromptVersion:
    """The evaluations a version needs before an experiment may pin it (the gate for staging)."""
    for name, scores in (("seed", {"schema_valid": 1.0, "grounding": 1.0}), ("red-team", {"redteam": 1.0}),
                         ("benign", {"benign": 1.0})):  # fmt: skip
        dataset, _ = EvalDataset.objects.get_or_create(prompt=version.prompt, name=name)
        EvalRun.objects.create(version=version, dataset=dataset, status=EvalRun.Status.DONE, scores=scores)
    return version


def _published(operator: Any, ids: list[str], version: PromptVersion) -> Draft:
    brief = Brief.objects.create(theme=f"list {ids[0]}", status=Brief.Status.DRAFTED)
    items = {item.external_id: item for item in Item.objects.filter(external_id__in=ids)}
    content = {"title": f"Picks {ids[0]}", "description": "Three picks.",
               "notes": [{"item_id": i, "note": f"{items[i].title}."} for i in ids]}  # fmt: skip
    draft = Draft.objects.create(kind=Draft.Kind.COLLECTION, brief=brief, number=1, generated=content, content=content,
                                 writer="model", model="smollm2-135m", prompt_version=version)  # fmt: skip
    for n, external_id in enumerate(ids, start=1):
        DraftItem.objects.create(draft=draft, item=items[external_id], position=n, score=1.0, sources=["lexical"])
    draft = services.draft_claim(draft=draft, by=operator)
    draft = services.draft_approve(draft=draft, by=operator, revision=draft.revision)
    return services.collection_publish(draft=draft, by=operator)


def _click(body: dict[str, Any], user: str, item: str, *, with_request: bool = True, **fields: Any) -> dict[str, Any]:
    row = {"user_id": user, "item_id": item, "type": "click", "timestamp": timezone.now().isoformat(), **fields}
    if with_request:
        row["request_id"] = body["request_id"]
    return row


@override_settings(EXPERIMENT_MIN_UNITS=50, EXPERIMENT_MIN_IMPRESSIONS=150)
def test_two_prompt_versions_give_separable_results_attributed_to_their_drafts(
    world: World, llm: None, operator: Any, serve_client: APIClient, token_client: Any
) -> None:
    prompt = Prompt.objects.get(name="collection_writer")
    current = version_for(prompt_name=prompt.pk)
    candidate = _gate_passed(version_create(prompt=prompt, **{k: getattr(current, k) for k in (
        "system", "template", "variables_schema", "output_schema", "params", "examples")}))  # fmt: skip
    old_list, new_list = _published(operator, OUTDOOR, current), _published(operator, COFFEE, candidate)
    experiment = Experiment.objects.create(name="writer-v-next", surface="collections", variants=[
        {"name": "current", "weight": 1, "prompts": {"collection_writer": {"version": current.number}}},
        {"name": "candidate", "weight": 1, "prompts": {"collection_writer": {"version": candidate.number}}},
    ])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)

    visitors = [f"visitor-{n}" for n in range(160)]
    assert not end_users_upsert(rows=[{"external_id": v} for v in visitors]).errors
    rng, events, sent = random.Random(7), [], {"current": 0, "candidate": 0}
    likes = {"current": 0.05, "candidate": 0.35}  # simulated users like the candidate's list more
    for visitor in visitors:
        asked = {"surface": "collections", "user_id": visitor, "k": 3}
        body = serve_client.get("/api/v1/recommendations", asked).json()
        variant = body["assignments"]["writer-v-next"]
        listed, draft = (COFFEE, new_list) if variant == "candidate" else (OUTDOOR, old_list)
        assert sorted(i["item_id"] for i in body["items"]) == sorted(listed)  # only its version's collection
        for item in body["items"]:
            assert item["provenance"]["collection"]["draft"] == draft.pk
            if rng.random() < likes[variant]:
                events.append(_click(body, visitor, item["item_id"]))
                sent[variant] += 1
    assert not interactions_ingest(rows=events).errors

    results = experiment_results(experiment=experiment)
    by_name = {v.variant: v for v in results.variants}
    for name, variant in by_name.items():
        assert variant.impressions == 3 * variant.units and variant.clicks == sent[name]
        assert variant.ctr == wilson(sent[name], variant.impressions)
    assert by_name["candidate"].ctr[1] > by_name["current"].ctr[2]  # intervals do not overlap
    assert not results.not_enough and not results.srm
    # A click on a collection item counts for the draft and prompt version that wrote it.
    clicked = next(e for e in events if e["item_id"] in COFFEE)
    shown = Impression.objects.get(request_id=clicked["request_id"], item__external_id=clicked["item_id"])
    assert shown.provenance["collection"] == {"draft": new_list.pk, "prompt": "collection_writer", "writer": "model",
                                              "prompt_version": candidate.number, "model": "smollm2-135m"}
    rows = {(r["variant"], r["draft"]): r for r in results.by_provenance}
    assert rows[("candidate", new_list.pk)]["clicks"] == sent["candidate"]
    assert rows[("candidate", new_list.pk)]["prompt_version"] == candidate.number
    assert ("candidate", old_list.pk) not in rows

    body = token_client("admin").get("/api/v1/experiments/writer-v-next/results").json()
    assert body["enough_data"] is True and body["srm"]["detected"] is False
    assert {v["variant"]: v["clicks"] for v in body["variants"]} == sent


def test_a_collection_page_logs_impressions_that_clicks_are_attributed_to(
    world: World, llm: None, operator: Any, serve_client: APIClient
) -> None:
    draft = _published(operator, OUTDOOR, version_for(prompt_name="collection_writer"))
    Experiment.objects.create(name="lists", surface="collections", status="running", variants=[
        {"name": "on", "weight": 1}, {"name": "other", "weight": 1}])  # fmt: skip
    user = next(u for u in world.users if serve_client.get("/api/v1/collections", {"user_id": u}).json()[
        "assignments"] == {"lists": "on"})  # fmt: skip
    body = serve_client.get(f"/api/v1/collections/{draft.pk}", {"user_id": user}).json()
    rows = list(Impression.objects.filter(request_id=body["request_id"]).order_by("position"))
    assert [r.item.external_id for r in rows] == OUTDOOR and all(r.surface == "collection" for r in rows)
    assert rows[0].provenance["collection"]["draft"] == draft.pk and rows[0].assignments == {"lists": "on"}
    assert not interactions_ingest(rows=[_click(body, user, OUTDOOR[1])]).errors
    on = next(v for v in experiment_results(experiment=Experiment.objects.get()).variants if v.variant == "on")
    assert (on.impressions, on.clicks) == (3, 1)


def test_generated_collections_switched_off_leave_home_without_them(
    world: World, llm: None, operator: Any, serve_client: APIClient
) -> None:
    _published(operator, OUTDOOR, version_for(prompt_name="collection_writer"))
    experiment = Experiment.objects.create(name="home-lists", surface="home", variants=[
        {"name": "on", "weight": 1}, {"name": "off", "weight": 1, "generated": {"collections": False}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    sources: dict[str, set[str]] = {"on": set(), "off": set()}
    for user in world.users:
        body = serve_client.get("/api/v1/recommendations", {"user_id": user, "k": 10}).json()
        sources[body["variant"]] |= {s for item in body["items"] for s in item["sources"]}
    assert "collections" in sources["on"] and "collections" not in sources["off"]
    with pytest.raises(ValueError, match="variant 'off' leaves the surface without a candidate source"):
        validate_variants([{"name": "on", "weight": 1}, {"name": "off", "weight": 1, "generated": {
            "collections": False}}], surface="collections")  # fmt: skip


def test_events_without_a_request_id_count_once_for_the_latest_impression_in_the_window(
    world: World, serve_client: APIClient
) -> None:
    experiment = Experiment.objects.create(name="window", surface="trending", status="running", variants=TWO)
    user = world.users[0]
    first = serve_client.get("/api/v1/recommendations", {"surface": "trending", "user_id": user, "k": 3}).json()
    item = first["items"][0]["item_id"]
    later = timezone.now() + timedelta(minutes=5)
    too_late = timezone.now() + timedelta(minutes=45)
    events = [
        _click(first, user, item),  # with the request id
        _click(first, user, item, with_request=False, timestamp=later.isoformat()),  # same impression, in window
        _click(first, user, first["items"][1]["item_id"], with_request=False, timestamp=later.isoformat()),
        _click(first, user, first["items"][2]["item_id"], with_request=False, timestamp=too_late.isoformat()),
    ]
    assert not interactions_ingest(rows=events).errors
    result = next(v for v in experiment_results(experiment=experiment).variants if v.units)
    # Item 0: two events, one impression, counted once; item 1 by the window; item 2 too late.
    assert (result.impressions, result.clicks) == (3, 2)


def test_revenue_per_unit_comes_from_attributed_purchases_with_a_bootstrap_interval(
    world: World, serve_client: APIClient
) -> None:
    experiment = Experiment.objects.create(name="revenue", surface="trending", status="running", variants=TWO)
    bodies = {u: serve_client.get("/api/v1/recommendations", {"surface": "trending", "user_id": u, "k": 2}).json()
              for u in world.users}  # fmt: skip
    buyers = world.users[:4]
    prices = {i.external_id: float(i.price) for i in Item.objects.all()}
    purchases = [_click(bodies[u], u, bodies[u]["items"][0]["item_id"], type="purchase") for u in buyers]
    purchases.append(_click(bodies[buyers[0]], buyers[0], bodies[buyers[0]]["items"][1]["item_id"], type="purchase",
                            value=99.5))  # a value sent with the event wins over the catalog price
    assert not interactions_ingest(rows=purchases).errors
    results = {v.variant: v for v in experiment_results(experiment=experiment).variants}
    spent: dict[str, float] = {"a": 0.0, "b": 0.0}
    for row in purchases:
        spent[bodies[row["user_id"]]["variant"]] += row.get("value") or prices[row["item_id"]]
    for name, variant in results.items():
        assert variant.revenue_per_unit is not None
        mean, low, high = variant.revenue_per_unit
        assert mean == pytest.approx(spent[name] / variant.units) and low <= mean <= high
        assert variant.conversions == sum(1 for r in purchases if bodies[r["user_id"]]["variant"] == name)


def test_a_skewed_split_is_flagged_as_a_sample_ratio_mismatch(world: World, serve_client: APIClient) -> None:
    experiment = Experiment.objects.create(name="split", surface="trending", status="running", variants=TWO)
    visitors = [f"guest-{n}" for n in range(400)]
    for visitor in visitors:
        serve_client.get("/api/v1/recommendations", {"surface": "trending", "user_id": visitor, "k": 1})
    fair = experiment_results(experiment=experiment)
    assert fair.srm_p is not None and not fair.srm
    # An assignment path that loses most of one variant's units (a crash before the response,
    # a bot filter, a cache that sends them elsewhere) skews the recorded split.
    lost = list(ExperimentExposure.objects.filter(experiment="split", variant="b").values_list("pk", flat=True))
    ExperimentExposure.objects.filter(pk__in=lost[: len(lost) * 3 // 5]).delete()
    Impression.objects.filter(variant="b").exclude(user_external_id__in=ExperimentExposure.objects.filter(
        experiment="split").values("unit")).delete()  # fmt: skip
    skewed = experiment_results(experiment=experiment)
    assert skewed.srm and skewed.srm_p is not None and skewed.srm_p < 0.001


def test_the_guard_stops_a_variant_whose_model_outputs_are_flagged(llm: None, operator: Any) -> None:
    from recsys_app.llmops.gateway import llm_complete
    from recsys_app.llmops.pinning import Pin, generation_pinned
    from recsys_app.safety.models import Guardrail

    Guardrail.objects.filter(name="banned_terms").update(enabled=True, on_output=True, action="flag",
                                                          terms=["frobnicate"])  # fmt: skip
    prompt = Prompt.objects.create(name="tagline", use_case="explanation", gate={})
    clean, flagged = (
        _gate_passed(version_create(prompt=prompt, template="Say a word about {{ thing }}.", output_schema={
            "type": "object", "properties": {"word": {"const": word}}, "required": ["word"]}))
        for word in ("splendid", "frobnicate")
    )  # fmt: skip
    experiment = Experiment.objects.create(name="taglines", surface="chat", variants=[
        {"name": "clean", "weight": 1, "prompts": {"tagline": {"version": clean.number}}},
        {"name": "flagged", "weight": 1, "prompts": {"tagline": {"version": flagged.number}}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    for n in range(24):  # served units of each variant call the prompt under their pins
        for variant, version in (("clean", clean), ("flagged", flagged)):
            pins = {"tagline": Pin(version=version.number)}
            with generation_pinned(pins, {"taglines": variant}):
                llm_complete(prompt="tagline", variables={"thing": f"thing {n % 3}"})
    assert experiments_guard() == [
        "taglines/flagged: flag rate 100.0% over 24 calls exceeds 20%"
    ]  # fmt: skip
    experiment.refresh_from_db()
    assert [v.get("stopped", "") != "" for v in experiment.variants] == [False, True]
    entry = AuditEntry.objects.get(action="experiment.variant_stop")
    assert entry.after["variant"] == "flagged" and entry.actor_name in ("", "system", None)
    assert experiments_guard() == []  # once stopped, not again
    experiment_stop(experiment=experiment, by=operator)
    reversed_roles = Experiment.objects.create(name="taglines-control-flagged", surface="chat",
                                               variants=[dict(v) for v in reversed(experiment.variants)])  # fmt: skip
    reversed_roles.variants[0].pop("stopped"), reversed_roles.variants[0].pop("stopped_at")
    reversed_roles.save()
    experiment_start(experiment=reversed_roles, by=operator)
    for n in range(24):
        with generation_pinned({"tagline": Pin(version=flagged.number)}, {"taglines-control-flagged": "flagged"}):
            llm_complete(prompt="tagline", variables={"thing": f"thing {n % 3}"})
    assert experiments_guard() == []  # the control is the product as it runs: never stopped
    results = experiment_results(experiment=experiment)
    assert results.guard == ["flagged: flag rate 100.0% over 24 calls exceeds 20%"]
    assert {v.variant: v.llm["flag_rate"] for v in results.variants} == {"clean": 0.0, "flagged": 1.0}


def test_the_experiment_page_joins_both_worlds(world: World, operator: Any, serve_client: APIClient) -> None:
    experiment = Experiment.objects.create(name="page", surface="trending", status="running", variants=TWO)
    serve_client.get("/api/v1/recommendations", {"surface": "trending", "user_id": world.users[0], "k": 2})
    client = Client()
    client.force_login(operator)
    html = client.get(reverse("console:experiment", args=[experiment.pk])).content.decode()
    assert 'id="not-enough"' in html and "Not enough data yet" in html and 'id="kpi"' in html
    assert "CTR by variant" in html and "No replay yet" in html
    dashboard = client.get(reverse("console:dashboard")).content.decode()
    assert reverse("console:experiment", args=[experiment.pk]) in dashboard


@pytest.mark.parametrize("surface", ["trending"])
def test_impressions_record_every_experiment_of_every_layer(world: World, serve_client: APIClient, operator: Any,
                                                            surface: str) -> None:  # fmt: skip
    diversity = Experiment.objects.create(name="div", surface=surface, layer="ranking", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1, "config": {"diversity": 0.5}}])  # fmt: skip
    caps = Experiment.objects.create(name="cap", surface=surface, layer="caps", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1, "config": {"creator_cap": 1}}])  # fmt: skip
    for experiment in (diversity, caps):
        experiment_start(experiment=experiment, by=operator)
    body = serve_client.get("/api/v1/recommendations", {"surface": surface, "user_id": "someone", "k": 2}).json()
    assert set(body["assignments"]) == {"div", "cap"}
    shown = Impression.objects.filter(request_id=body["request_id"]).first()
    assert shown is not None and shown.assignments == body["assignments"]


def test_a_chat_experiment_switches_the_agents_words_off_and_logs_its_cards(
    world: World, llm: None, operator: Any, serve_client: APIClient
) -> None:
    experiment = Experiment.objects.create(name="agent-words", surface="chat", unit="session", variants=[
        {"name": "model", "weight": 1}, {"name": "catalog", "weight": 1, "generated": {"agent": False}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    turns: dict[str, dict[str, Any]] = {}
    for _ in range(30):  # sessions until both variants answered
        if len(turns) == 2:
            break
        session = serve_client.post("/api/v1/chat/sessions", {"user_id": world.users[2]}, format="json").json()
        url = f"/api/v1/chat/sessions/{session['session_id']}/messages"
        body = serve_client.post(url, {"message": "a tent for two"}, format="json").json()
        turns.setdefault(body["assignments"]["agent-words"], body)
    assert turns["catalog"]["reply_source"] == "template" and turns["catalog"]["generated"] is False
    for variant, body in turns.items():
        shown = list(Impression.objects.filter(request_id=body["request_id"]).order_by("position"))
        assert [i.item.external_id for i in shown] == [card["item_id"] for card in body["cards"]] and shown
        assert all(i.surface == "chat" and i.assignments == {"agent-words": variant} for i in shown)
        if body["generated"]:
            assert shown[0].provenance == {"reply": body["provenance"]}
    model = turns["model"]
    assert not interactions_ingest(rows=[_click(model, world.users[2], model["cards"][0]["item_id"])]).errors
    results = {v.variant: v for v in experiment_results(experiment=experiment).variants}
    assert results["model"].clicks == 1 and results["catalog"].clicks == 0
    assert results["model"].llm["calls"] >= 1  # its reply call is tagged with the variant


def test_a_pinned_explanation_version_phrases_the_variants_explanations(
    world: World, llm: None, operator: Any, serve_client: APIClient
) -> None:
    from recsys_app.llmops.models import Trace
    from recsys_app.ranking.explanations import explanation_phrase
    from recsys_app.ranking.models import Explanation

    prompt = Prompt.objects.get(name="explanation")
    current = version_for(prompt_name="explanation")
    pinned = _gate_passed(version_create(prompt=prompt, system=current.system, template=current.template,
                                         output_schema=current.output_schema, params=current.params))  # fmt: skip
    experiment = Experiment.objects.create(name="why-v-next", surface="home", variants=[
        {"name": "signals", "weight": 1, "explain": "signals"},
        {"name": "pinned", "weight": 1, "explain": "model", "prompts": {"explanation": {"version": pinned.number}}},
    ])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    EndUser.objects.update(consent_generative=True)  # a model phrases only for those who consented
    served = {}
    for user in world.users:
        body = serve_client.get("/api/v1/recommendations", {"user_id": user, "k": 2}).json()
        served.setdefault(body["variant"], body)
    assert all(i["explanation"]["phrased_by"] == "template" for i in served["signals"]["items"])
    queued = Explanation.objects.filter(mode__startswith="model:").first()  # the variant's own cache key
    assert queued is not None and queued.provenance["pin"]["version"] == pinned.number
    found = explanation_phrase(explanation_id=queued.pk)  # the worker's half
    assert found is not None
    call = Trace.objects.filter(name="explanation", kind="llm").latest("pk")
    assert call.prompt_version_id == pinned.pk and call.attributes["experiments"] == {"why-v-next": "pinned"}


def test_exposure_counts_units_whose_pages_showed_nothing(world: World, llm: None, operator: Any,
                                                           serve_client: APIClient) -> None:  # fmt: skip
    experiment = Experiment.objects.create(name="empty-lists", surface="collections", variants=TWO)
    experiment_start(experiment=experiment, by=operator)
    for user in world.users:  # no collection is published: every list is empty
        assert serve_client.get("/api/v1/collections", {"user_id": user}).json()["collections"] == []
    results = experiment_results(experiment=experiment)
    assert sum(v.units for v in results.variants) == len(world.users) and all(v.impressions == 0
                                                                           for v in results.variants)  # fmt: skip
    assert set(ExperimentExposure.objects.values_list("surface", flat=True)) == {"collections"}


def test_a_collection_opened_outside_its_variant_is_not_counted_for_it(
    world: World, llm: None, operator: Any, serve_client: APIClient
) -> None:
    current = version_for(prompt_name="collection_writer")
    draft = _published(operator, OUTDOOR, current)
    experiment = Experiment.objects.create(name="pinned-elsewhere", surface="collections", variants=[
        {"name": "a", "weight": 1, "prompts": {"collection_writer": {"version": current.number}}},
        {"name": "b", "weight": 1, "config": {"diversity": 0.1}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    Experiment.objects.filter(pk=experiment.pk).update(variants=[  # as if v1's lists were another version's
        {"name": "a", "weight": 1, "prompts": {"collection_writer": {"version": current.number + 1}}},
        {"name": "b", "weight": 1, "config": {"diversity": 0.1}}])  # fmt: skip
    from recsys_app.lib.local_cache import LocalCache

    LocalCache.clear_all()
    tags = {serve_client.get(f"/api/v1/collections/{draft.pk}", {"user_id": u}).json()["request_id"]: u
            for u in world.users}  # fmt: skip
    shown = Impression.objects.filter(request_id__in=list(tags), position=1)
    assert {tuple(i.assignments.items()) for i in shown} == {(), (("pinned-elsewhere", "b"),)}


def test_the_trending_endpoint_assigns_users_and_sessions(world: World, serve_client: APIClient, operator: Any) -> None:
    experiment = Experiment.objects.create(name="trend-split", surface="trending", unit="session", variants=TWO)
    experiment_start(experiment=experiment, by=operator)
    with_session = serve_client.get("/api/v1/trending", {"user_id": world.users[0], "session_id": "s1"}).json()
    without = serve_client.get("/api/v1/trending", {"user_id": world.users[0]}).json()
    assert with_session["assignments"] == {"trend-split": with_session["variant"]} and with_session["variant"]
    assert without["assignments"] == {}  # a session experiment without a session: not in it
