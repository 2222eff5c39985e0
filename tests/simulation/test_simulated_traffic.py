"""Simulated traffic is marked wherever it lands, kept out of training, labelled in reports,
and purged in one action; real rows are never touched."""

from __future__ import annotations

from typing import Any

import httpx
from django.test import Client, override_settings
from django.urls import reverse

from recsys_app.accounts.services import api_token_create
from recsys_app.catalog.models import EndUser, Impression, Interaction
from recsys_app.ops.simulated_traffic import simulated_counts, simulated_traffic_purge
from recsys_app.ranking.experiment_results import experiment_results
from recsys_app.ranking.models import Experiment, ExperimentExposure
from recsys_app.retrieval.interactions import weighted_events
from recsys_app.safety.models import AuditEntry
from simulation.client import ApiClient
from simulation.run import Plan, simulate
from simulation.tastes import Tastes
from tests.world import World


def _client(live_server: Any, *, simulated: bool = True) -> ApiClient:
    _, serve = api_token_create(name=f"serve-{simulated}", scopes=["serve"])
    _, ingest = api_token_create(name=f"ingest-{simulated}", scopes=["ingest"])
    return ApiClient(live_server.url, serve_token=serve, ingest_token=ingest, simulated=simulated)


def _visit(client: ApiClient, users: list[str], *, seed: int) -> int:
    """Everyone likes everything: every visit sends events."""
    every = frozenset(Impression.objects.values_list("item__external_id", flat=True)) or frozenset()
    tastes = [Tastes(user, every) for user in users]
    report = simulate(client, tastes, Plan(k=5, pages=2, experiment="marks", seed=seed))
    return report.events


def test_simulated_traffic_is_marked_out_of_training_labelled_and_purged(world: World, live_server: Any,
                                                                        operator: Any) -> None:  # fmt: skip
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    experiment = Experiment.objects.create(name="marks", surface="home", status="running", variants=variants)
    real, sim = _client(live_server, simulated=False), _client(live_server)
    real_users, sim_users = world.users[:3], world.users[3:6]
    sim.post("/api/v1/users/bulk", {"users": [{"external_id": "sim-only-1"}]}, scope="ingest")
    assert _visit(real, real_users, seed=1) and _visit(sim, [*sim_users, "sim-only-1"], seed=2)

    # Marked where the simulator's requests landed, and only there.
    assert Impression.objects.filter(simulated=True, user__external_id__in=sim_users).exists()
    assert not Impression.objects.filter(simulated=True, user__external_id__in=real_users).exists()
    assert not Impression.objects.filter(simulated=False, user__external_id__in=[*sim_users, "sim-only-1"]).exists()
    sim_events = Interaction.objects.filter(simulated=True)
    assert sim_events.exists() and not sim_events.filter(user__external_id__in=real_users).exists()
    assert set(ExperimentExposure.objects.filter(simulated=True).values_list("unit", flat=True)) == {
        *sim_users, "sim-only-1"}  # fmt: skip
    assert EndUser.objects.get(external_id="sim-only-1").simulated
    assert not EndUser.objects.filter(external_id__in=sim_users, simulated=True).exists()  # played, not created

    # Training reads the real events only, unless the setting lets simulated ones in.
    weighted = set(sim_events.exclude(type__weight=0).values_list("id", flat=True))
    real_ids = set(Interaction.objects.filter(simulated=False).exclude(type__weight=0).values_list("id", flat=True))
    assert set(weighted_events()["interaction_id"]) == real_ids and weighted
    with override_settings(SIMULATED_TRAFFIC_IN_TRAINING=True):
        assert set(weighted_events()["interaction_id"]) == real_ids | weighted

    # Reports say which traffic they count.
    everything = experiment_results(experiment=experiment)
    people = experiment_results(experiment=experiment, population="real")
    simulated = experiment_results(experiment=experiment, population="simulated")
    assert everything.label == "mixed" and people.label == "real" and simulated.label == "simulated"
    assert sum(v.impressions for v in people.variants) + sum(v.impressions for v in simulated.variants) == sum(
        v.impressions for v in everything.variants)  # fmt: skip
    assert sum(v.units for v in simulated.variants) == len(sim_users) + 1
    _, admin = api_token_create(name="admin", scopes=["admin"])
    body = httpx.get(f"{live_server.url}/api/v1/experiments/marks/results", params={"population": "simulated"},
                     headers={"Authorization": f"Token {admin}"}).json()  # fmt: skip
    assert body["population"]["label"] == "simulated" and body["population"]["counted"] == "simulated"

    # One action removes every simulated row and the users simulation created; real rows stay.
    kept = (Interaction.objects.filter(simulated=False).count(), Impression.objects.filter(simulated=False).count())
    counts = simulated_counts()
    assert counts.events and counts.impressions and counts.exposures and counts.users == 1
    browser = Client()
    browser.force_login(operator)
    page = browser.get(reverse("console:dashboard"), {"population": "simulated"})
    assert b'id="simulated-label"' in page.content and b"simulated users only" in page.content
    browser.post(reverse("console:simulated_purge"))  # not confirmed: nothing happens
    assert simulated_counts() == counts
    browser.post(reverse("console:simulated_purge"), {"confirm": "yes"})
    assert simulated_counts().total == 0 and not EndUser.objects.filter(external_id="sim-only-1").exists()
    assert (Interaction.objects.count(), Impression.objects.count()) == kept
    assert AuditEntry.objects.filter(action="simulated_traffic.purge").exists()
    assert simulated_traffic_purge().total == 0  # nothing left: a second purge is a no-op
    real.close()
    sim.close()


def test_a_simulated_flag_that_is_not_a_boolean_is_refused_by_name(world: World, live_server: Any) -> None:
    client = _client(live_server)
    answer = httpx.get(f"{live_server.url}/api/v1/recommendations", params={"user_id": world.users[0],
                       "simulated": "maybe"}, headers=client._serve)  # fmt: skip
    assert answer.status_code == 400 and "simulated: 'maybe'" in answer.json()["error"]["message"]
    events = httpx.post(f"{live_server.url}/api/v1/events", json={"events": [], "simulated": "yes"},
                        headers=client._ingest)  # fmt: skip
    assert events.status_code == 400 and "simulated" in events.json()["error"]["message"]
    assert not Interaction.objects.filter(simulated=True).exists()
    client.close()
