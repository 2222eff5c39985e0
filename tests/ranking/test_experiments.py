from __future__ import annotations

from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from recsys_app.catalog.models import Impression
from recsys_app.catalog.services import interactions_ingest
from recsys_app.ranking.config import DEFAULT_SURFACES
from recsys_app.ranking.experiment_results import experiment_results
from recsys_app.ranking.experiments import assign, bucket, experiment_start, validate_variants, wilson
from recsys_app.ranking.models import Experiment
from tests.world import World

VARIANTS = [
    {"name": "control", "weight": 1, "config": {}},
    {"name": "trending-only", "weight": 1, "config": {"sources": {"trending": {"limit": 50}}, "diversity": 0}},
]


def test_buckets_are_stable_and_split_by_weight(db: None) -> None:
    assert bucket("exp", "user-1") == bucket("exp", "user-1") != bucket("other-salt", "user-1")
    experiment = Experiment(
        name="split", surface="home", variants=[{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]
    )
    counts = Counter(assign(experiment, f"user-{n}", DEFAULT_SURFACES["home"]).variant for n in range(8000))
    assert 0.73 < counts["a"] / 8000 < 0.77


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([{"name": "only", "weight": 1}], "at least two variants"),
        ([{"name": "a", "weight": 1}, {"name": "a", "weight": 1}], "unique"),
        ([{"name": "a", "weight": 0}, {"name": "b", "weight": 1}], "positive weight"),
        (
            [{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "config": {"sources": {"magic": {}}}}],
            "unknown source",
        ),
        ([{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "config": {"diversity": 7}}], "variant 'b' config"),
    ],
)
def test_bad_variants_are_refused(db: None, variants: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_variants(variants, surface="home")
    with pytest.raises(ValidationError):
        Experiment(name="x", surface="home", variants=variants).full_clean()


def test_wilson_interval_matches_the_textbook() -> None:
    rate, low, high = wilson(10, 100)
    assert rate == 0.1 and round(low, 4) == 0.0552 and round(high, 4) == 0.1744
    assert wilson(0, 0) == (0.0, 0.0, 0.0)


def test_variants_change_the_list_and_results_count_attributed_events(
    world: World, serve_client: APIClient, token_client
) -> None:  # type: ignore[no-untyped-def]
    Experiment.objects.create(name="mix", surface="home", status="running", variants=VARIANTS)
    seen = {}
    for user in world.users:
        body = serve_client.get("/api/v1/recommendations", {"user_id": user, "k": 3}).json()
        assert body["experiment"] == "mix"
        seen[user] = body
        if body["variant"] == "trending-only":
            assert all(item["sources"] == ["trending"] for item in body["items"])
    variants = Counter(body["variant"] for body in seen.values())
    assert set(variants) == {"control", "trending-only"}
    assert Impression.objects.filter(experiment="mix").count() == 3 * len(world.users)
    clicker = next(u for u, body in seen.items() if body["variant"] == "control")
    body = seen[clicker]
    now = timezone.now().isoformat()
    interactions_ingest(
        rows=[
            {
                "user_id": clicker,
                "item_id": body["items"][0]["item_id"],
                "type": "click",
                "timestamp": now,
                "request_id": body["request_id"],
            },
            {
                "user_id": clicker,
                "item_id": body["items"][0]["item_id"],
                "type": "purchase",
                "timestamp": now,
                "request_id": body["request_id"],
            },
        ]
    )
    results = token_client("admin").get("/api/v1/experiments/mix/results").json()
    control = next(v for v in results["variants"] if v["variant"] == "control")
    assert (control["impressions"], control["clicks"], control["conversions"]) == (3 * variants["control"], 1, 1)
    assert control["ctr"]["low"] < control["ctr"]["rate"] < control["ctr"]["high"]
    assert serve_client.get("/api/v1/experiments/mix/results").status_code == 403
    assert token_client("admin").get("/api/v1/experiments/nope/results").status_code == 404


def test_layers_keep_experiments_apart_and_refuse_collisions(db: None, operator) -> None:  # type: ignore[no-untyped-def]
    from recsys_app.ranking.experiments import in_experiment

    halves = [Experiment.objects.create(name=f"half-{n}", surface="home", traffic=50, variants=VARIANTS)
              for n in range(2)]  # fmt: skip
    for experiment in halves:
        experiment_start(experiment=experiment, by=operator)
    first, second = (Experiment.objects.get(pk=e.pk) for e in halves)
    assert (first.slot_start, first.slot_end, second.slot_start, second.slot_end) == (0, 5000, 5000, 10000)
    units = [f"user-{n}" for n in range(4000)]
    inside = [(in_experiment(first, u), in_experiment(second, u)) for u in units]
    assert not any(a and b for a, b in inside) and all(a or b for a, b in inside)  # one layer: exactly one each
    assert 0.45 < sum(a for a, _ in inside) / len(units) < 0.55
    third = Experiment.objects.create(name="third", surface="home", traffic=10, variants=VARIANTS)
    with pytest.raises(ValueError, match="traffic: layer 'surface-home' has no free 10%"):
        experiment_start(experiment=third, by=operator)
    clash = Experiment.objects.create(name="clash", surface="home", layer="other", variants=VARIANTS)
    with pytest.raises(ValueError, match="also changes diversity, sources on 'home'; run them in one layer"):
        experiment_start(experiment=clash, by=operator)
    apart = Experiment.objects.create(name="apart", surface="home", layer="other", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1, "config": {"creator_cap": 1}}])  # fmt: skip
    experiment_start(experiment=apart, by=operator)
    apart.refresh_from_db()
    both = sum(in_experiment(first, u) and in_experiment(apart, u) for u in units) / len(units)
    assert 0.45 < both < 0.55  # another layer overlaps independently
    assert Experiment.objects.get(pk=third.pk).status == "draft"
    by_session = Experiment.objects.create(name="by-session", surface="item_page", layer="other", unit="session",
                                           variants=[*VARIANTS[:1], {"name": "b", "weight": 1}])  # fmt: skip
    refused = r"unit: layer 'other' splits by user \(apart\); a session experiment needs another layer"
    with pytest.raises(ValueError, match=refused):
        experiment_start(experiment=by_session, by=operator)


def test_a_started_experiment_cannot_be_edited_in_the_console(db: None, operator) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client
    from django.urls import reverse

    experiment = Experiment.objects.create(name="fixed", surface="home", variants=VARIANTS)
    client = Client()
    client.force_login(operator)
    url = reverse("admin:ranking_experiment_change", args=[experiment.pk])
    assert 'name="variants"' in client.get(url).content.decode()
    experiment_start(experiment=experiment, by=operator)
    page = client.get(url).content.decode()
    assert 'name="variants"' not in page and 'name="traffic"' not in page and 'name="ends_at' in page


def test_a_session_unit_splits_one_user_across_sessions(world: World, serve_client: APIClient, operator) -> None:  # type: ignore[no-untyped-def]
    experiment = Experiment.objects.create(name="by-session", surface="trending", unit="session", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    user = world.users[0]
    variants = {}
    for n in range(12):
        session = f"s-{n}"
        body = serve_client.get("/api/v1/recommendations", {"surface": "trending", "user_id": user, "k": 1,
                                                             "session_id": session}).json()  # fmt: skip
        again = serve_client.get("/api/v1/recommendations", {"surface": "trending", "user_id": user, "k": 1,
                                                              "session_id": session}).json()  # fmt: skip
        assert body["variant"] == again["variant"]
        variants[session] = body["variant"]
    assert set(variants.values()) == {"a", "b"}
    results = experiment_results(experiment=experiment)
    assert sum(v.units for v in results.variants) == 12  # sessions, not the one user


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ({"prompts": {"collection_writer": {"version": 99}}}, "prompts.collection_writer: prompt 'collection_writer' "
         "has no version 99"),
        ({"prompts": {"collection_writer": {"provider": "nope"}}}, "no enabled provider 'nope'"),
        ({"generated": {"chatbot": False}}, "generated.chatbot"),
        ({"ranker": "llm"}, "variant 'b' ranker"),
        ({"explain": "loud"}, "variant 'b' explain"),
        ({"generated": {"agent": False}}, "generated.agent: applies only on 'chat'"),
        ({"config": {"sources": {"trending": {}}}, "generated": {"collections": False}},
         "generated.collections: its sources on 'home' have no 'collections' to switch"),
    ],
)
def test_bad_generation_settings_are_named(llm: None, variant: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_variants([{"name": "a", "weight": 1}, {"name": "b", "weight": 1, **variant}], surface="home")


def test_a_pinned_version_must_pass_its_gate(llm: None) -> None:
    from recsys_app.llmops.models import Prompt
    from recsys_app.llmops.prompts import version_create, version_for

    prompt = Prompt.objects.get(name="explanation")
    current = version_for(prompt_name="explanation")
    draft = version_create(prompt=prompt, template=current.template, output_schema=current.output_schema)
    with pytest.raises(ValueError, match=f"prompts.explanation: .*v{draft.number}.* no finished evaluation"):
        validate_variants([{"name": "a", "weight": 1},
                           {"name": "b", "weight": 1, "prompts": {"explanation": {"version": draft.number}}}],
                          surface="home")  # fmt: skip
    validate_variants([{"name": "a", "weight": 1},
                       {"name": "b", "weight": 1, "prompts": {"explanation": {"version": current.number}}}],
                      surface="home")  # fmt: skip


def test_experiment_results_show_in_the_console(world: World, serve_client: APIClient, operator) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client
    from django.urls import reverse

    experiment = Experiment.objects.create(name="shown", surface="home", status="running", variants=VARIANTS)
    serve_client.get("/api/v1/recommendations", {"user_id": "shopper-0", "k": 2})
    client = Client()
    client.force_login(operator)
    html = client.get(reverse("admin:ranking_experiment_change", args=[experiment.pk])).content.decode()
    assert "<th>CTR</th>" in html and "0.00% [" in html


def test_the_experiment_command_creates_starts_and_reports(db: None) -> None:
    import io
    import json

    from django.core.management import CommandError, call_command

    from recsys_app.safety.models import AuditEntry

    out = io.StringIO()
    call_command("experiment", "create", "cli", "--surface", "trending", "--traffic", "40", "--start",
                 "--variants", json.dumps(VARIANTS), stdout=out)  # fmt: skip
    assert "cli: running in surface-trending [0, 4000)" in out.getvalue()
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "experiment.create", "experiment.start"]  # fmt: skip
    out = io.StringIO()
    call_command("experiment", "results", "cli", stdout=out)
    body = json.loads(out.getvalue())
    assert body["traffic"] == 40 and body["enough_data"] is False and len(body["variants"]) == 2
    with pytest.raises(CommandError, match="--variants: not JSON"):
        call_command("experiment", "create", "bad", "--surface", "home", "--variants", "[{")
    with pytest.raises(CommandError, match="variants: variant 'b' needs a positive weight"):
        call_command("experiment", "create", "bad", "--surface", "home", "--variants",
                     json.dumps([{"name": "a", "weight": 1}, {"name": "b", "weight": 0}]))  # fmt: skip
    with pytest.raises(CommandError, match="no experiment named 'nope'"):
        call_command("experiment", "stop", "nope")
    assert not Experiment.objects.filter(name="bad").exists()
