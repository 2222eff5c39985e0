"""The behavioural simulator against the real stack (a live server, the public API only)."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest
from django.test import override_settings

from recsys_app.accounts.services import api_token_create
from recsys_app.catalog.models import Impression
from recsys_app.catalog.services import end_users_upsert
from recsys_app.ranking.experiment_results import experiment_results
from recsys_app.ranking.models import Experiment
from simulation.behaviour import Behaviour, react
from simulation.client import ApiClient
from simulation.run import Plan, simulate
from simulation.tastes import Tastes, held_back
from tests.world import CATEGORIES, World, item_id


def _tastes(world: World) -> list[Tastes]:
    """Each shopper likes every item under the top-level category their history favours (the
    world's rule): known to the test, never read by the simulator."""
    categories = list(CATEGORIES)
    out = []
    for n, user in enumerate(world.users):
        top = categories[n % len(categories)].split("/")[0]
        liked = {item_id(c, i) for c in categories if c.startswith(top + "/") for i in range(5)}
        out.append(Tastes(user, frozenset(liked)))
    return out


def _client(live_server: Any) -> ApiClient:
    _, serve = api_token_create(name="sim-serve", scopes=["serve"])
    _, ingest = api_token_create(name="sim-ingest", scopes=["ingest"])
    return ApiClient(live_server.url, serve_token=serve, ingest_token=ingest)


def test_events_the_simulator_sends_are_attributed_to_the_impressions_it_saw(world: World, live_server: Any) -> None:
    experiment = Experiment.objects.create(name="sim", surface="home", status="running", variants=[
        {"name": "a", "weight": 1}, {"name": "b", "weight": 1}])  # fmt: skip
    client = _client(live_server)
    report = simulate(client, _tastes(world) * 2, Plan(k=5, pages=2, experiment="sim", seed=4))
    client.close()
    assert report.users == 2 * len(world.users) and report.requests == 2 * report.users and report.events
    for row in report.sent:  # every event answers an impression the simulator was shown
        assert Impression.objects.filter(request_id=row["request_id"], item__external_id=row["item_id"]).exists()
    results = {v.variant: v for v in experiment_results(experiment=experiment).variants}
    for name, result in results.items():
        assert result.impressions == report.by_variant[name]["impressions"]
        assert result.clicks == report.by_variant[name]["click"]
    calibration = report.calibration()
    assert calibration["click_rate_liked"] > calibration["click_rate_other"] and report.users_per_second > 0


def test_a_user_clicks_what_they_like_more_often_at_the_top_and_when_fresh() -> None:
    liked = [f"i{n}" for n in range(10)]
    tastes = Tastes("u", frozenset(liked))
    behaviour = Behaviour(skip_examined=0.0)
    rng = random.Random(1)
    top, bottom, fresh, tired = 0, 0, 0, 0
    for _ in range(3000):
        shown = react(liked, tastes, behaviour=behaviour, rng=rng, page=1, seen=set())
        clicks = [r for r in shown if r.type == "click"]
        top += any(r.position == 1 for r in clicks)
        bottom += any(r.position == 10 for r in clicks)
        fresh += len(clicks)
        again = react(liked, tastes, behaviour=behaviour, rng=rng, page=4, seen=set(liked))
        tired += sum(r.type == "click" for r in again)
    assert top > 3 * bottom  # position bias
    assert tired < 0.5 * fresh  # a fourth page of items already seen: fatigue and no novelty
    with pytest.raises(ValueError, match=r"click_liked: 1\.5 is not a probability"):
        Behaviour(click_liked=1.5)


def test_held_back_tastes_are_each_users_latest_ratings() -> None:
    ratings = pd.DataFrame({"userId": [1] * 10 + [2] * 3, "movieId": [*range(10), 1, 2, 3],
                            "rating": [5.0] * 8 + [4.5, 1.0] + [5.0] * 3, "timestamp": [*range(10), 1, 2, 3]})
    split = held_back(ratings, fraction=0.2)
    assert split.tastes["ml-u1"].liked == {"ml-8"} and split.tastes["ml-u1"].disliked == {"ml-9"}
    assert "ml-u2" not in split.tastes and len(split.train) == 11  # too few ratings: all kept for training
    assert split.cutoffs["ml-u1"] == 8
    with pytest.raises(ValueError, match="fraction"):
        held_back(ratings, fraction=1.5)


@override_settings(EXPERIMENT_MIN_UNITS=40, EXPERIMENT_MIN_IMPRESSIONS=150)
def test_a_variant_that_serves_what_users_like_wins_with_intervals_apart(world: World, live_server: Any) -> None:
    client = _client(live_server)
    newest = [i["item_id"] for i in client.recommendations(user_id="nobody", surface="new_arrivals", k=5)["items"]]
    visitors = [f"sim-visitor-{n}" for n in range(120)]
    assert not end_users_upsert(rows=[{"external_id": v} for v in visitors]).errors
    experiment = Experiment.objects.create(name="fresh-wins", surface="home", status="running", variants=[
        {"name": "popular", "weight": 1, "config": {"sources": {"trending": {}}, "diversity": 0}},
        {"name": "newest", "weight": 1, "config": {"sources": {"fresh": {}}, "diversity": 0, "creator_cap": None}},
    ])  # fmt: skip
    # By construction: the simulated visitors like exactly what the 'newest' variant serves.
    tastes = [Tastes(v, frozenset(newest)) for v in visitors]
    report = simulate(client, tastes, Plan(k=5, pages=1, experiment="fresh-wins", seed=9))
    client.close()
    results = experiment_results(experiment=experiment)
    by_name = {v.variant: v for v in results.variants}
    assert not results.not_enough and not results.srm
    assert by_name["newest"].ctr[1] > by_name["popular"].ctr[2]
    assert by_name["newest"].clicks == report.by_variant["newest"]["click"]
