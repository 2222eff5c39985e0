"""`manage.py simulate`: the pre-launch bench on a running experiment, in-process and as a
Celery job in a real worker; hidden tastes on a catalog without held-back ratings."""

from __future__ import annotations

import io
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from django.urls import reverse

from recsys_app.catalog.models import EndUser, Impression
from recsys_app.celery import app
from recsys_app.ops.models import TaskRun
from recsys_app.ops.services import job_enqueue
from recsys_app.ops.simulator import DEMO_EXPERIMENT, demo_experiment_ensure, live_traffic
from recsys_app.ops.tasks import SIMULATION_BENCH_TASK
from recsys_app.ranking.experiments import experiment_start
from recsys_app.ranking.models import Experiment
from simulation.catalog_tastes import CatalogItem, catalog_tastes
from tests.processes import celery_worker_cmd, child_env, running, wait_for_line
from tests.world import World


def _experiment(name: str, status: str = "running") -> Experiment:
    return Experiment.objects.create(name=name, surface="home", status=status, variants=[
        {"name": "mixed", "weight": 1},
        {"name": "fresh", "weight": 1, "config": {"sources": {"fresh": {}}, "diversity": 0, "creator_cap": None}},
    ])  # fmt: skip


def test_the_bench_reports_each_variant_with_intervals_labelled_simulated(world: World, live_server: Any) -> None:
    _experiment("bench")
    out = io.StringIO()
    call_command("simulate", "--experiment", "bench", "--users", "30", "--hours", "48", "--seed", "3",
                 "--base-url", live_server.url, "--json", stdout=out)  # fmt: skip
    result = json.loads(out.getvalue())
    assert result["label"] == "simulated" and result["product"]["population"]["label"] == "simulated"
    simulator, product = result["simulator"], result["product"]
    assert simulator["users"] == 30 and simulator["visits"] > 30  # users came back over 48 simulated hours
    variants = {v["variant"]: v for v in product["variants"]}
    assert set(variants) == {"mixed", "fresh"} and sum(v["units"] for v in variants.values()) == 30
    outside = simulator["variants"].pop("(outside the experiment)")  # the similar-items pages
    assert outside["impressions"] and set(simulator["variants"]) == {"mixed", "fresh"}
    for name, own in simulator["variants"].items():  # the product attributes what the simulator did
        assert variants[name]["impressions"] == own["impressions"] and variants[name]["clicks"] == own["clicks"]
        assert variants[name]["ctr"]["low"] <= variants[name]["ctr"]["rate"] <= variants[name]["ctr"]["high"]
    # Shoppers with drawn tastes were created through the API, and so marked simulated.
    shoppers = EndUser.objects.filter(external_id__startswith="sim-shopper-3-")
    assert shoppers.count() == 30 and not shoppers.filter(simulated=False).exists()
    assert not Impression.objects.filter(simulated=False, user__in=shoppers).exists()

    text = io.StringIO()
    call_command("simulate", "--experiment", "bench", "--users", "5", "--base-url", live_server.url, stdout=text)
    assert "SIMULATED traffic on experiment 'bench'" in text.getvalue() and "Calibration:" in text.getvalue()


def test_the_bench_refuses_an_experiment_that_is_not_running(world: World) -> None:
    _experiment("drafted", status="draft")
    with pytest.raises(CommandError, match="'drafted' is draft; start it first"):
        call_command("simulate", "--experiment", "drafted", "--users", "5")
    with pytest.raises(CommandError, match="no experiment named 'nope'"):
        call_command("simulate", "--experiment", "nope")


def test_drawn_tastes_follow_category_price_and_brand() -> None:
    items = [CatalogItem(f"i{n}", "Books" if n % 2 else "Games", float(n), f"b{n % 3}") for n in range(60)]
    tastes = catalog_tastes(items, users=50, rng=random.Random(1))
    by_id = {item.item_id: item for item in items}
    assert len({t.user_id for t in tastes}) == 50 and any(t.liked for t in tastes)
    for t in tastes:
        liked = [by_id[i] for i in t.liked]
        assert len({item.category for item in liked}) <= 2 and not t.liked & t.disliked
        if liked:  # one price band and at most three brands
            assert max(item.price or 0 for item in liked) - min(item.price or 0 for item in liked) <= 30
            assert len({item.brand for item in liked}) <= 3


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_bench_runs_as_a_job_in_a_real_worker_with_progress(world: World, live_server: Any,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    _experiment("queued")
    log = tmp_path / "worker.log"
    broker_dir = Path(app.conf.broker_transport_options["data_folder_in"]).parent  # the test process's queue
    env = child_env(SIMULATOR_BASE_URL=live_server.url, RECSYS_BROKER_DIR=str(broker_dir))
    with running(celery_worker_cmd(), env, log) as worker:
        wait_for_line(log, "ready.", worker)
        run = job_enqueue(task_name=SIMULATION_BENCH_TASK, kwargs={"experiment": "queued", "users": 10, "hours": 0})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (TaskRun.Status.SUCCEEDED, TaskRun.Status.FAILED):
                break
            time.sleep(0.5)
    assert run.status == TaskRun.Status.SUCCEEDED, run.error or log.read_text()[-2000:]
    assert run.progress == 1.0 and "10 of 10 simulated users" in run.log
    assert run.result["label"] == "simulated" and run.result["simulator"]["users"] == 10


def test_live_traffic_visits_at_a_rate_until_stopped_and_fills_the_demo_experiment(world: World, live_server: Any
                                                                                    ) -> None:  # fmt: skip
    experiment = demo_experiment_ensure()
    assert experiment is not None and experiment.status == "running" and demo_experiment_ensure() is None
    stop = threading.Event()
    reports: list[Any] = []

    def visit() -> None:
        try:
            reports.append(live_traffic(visits_per_minute=600, stop=stop, base_url=live_server.url, users=20, seed=5))
        finally:
            connections.close_all()  # this thread's own connection (tokens), so the test database can go

    thread = threading.Thread(target=visit)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Impression.objects.filter(simulated=True).values("request_id").distinct(
            ).count() < 12:  # fmt: skip
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=60)
    report = reports[0]
    assert report.visits >= 5 and report.errors == 0 and not report.sent  # a long run keeps counts only
    shown = Impression.objects.filter(simulated=True, assignments__has_key=DEMO_EXPERIMENT)
    assert set(shown.values_list("assignments__" + DEMO_EXPERIMENT, flat=True)) <= {"generated-on", "generated-off"}
    assert shown.exists()


def test_the_bench_on_a_chat_experiment_reports_the_agent_per_variant(world: World, llm: None, operator: Any,
                                                                      live_server: Any) -> None:  # fmt: skip
    experiment = Experiment.objects.create(name="agent-bench", surface="chat", variants=[
        {"name": "model", "weight": 1}, {"name": "catalog", "weight": 1, "generated": {"agent": False}}])  # fmt: skip
    experiment_start(experiment=experiment, by=operator)
    out = io.StringIO()
    call_command("simulate", "--experiment", "agent-bench", "--users", "4", "--seed", "2",
                 "--base-url", live_server.url, "--json", stdout=out)  # fmt: skip
    result = json.loads(out.getvalue())
    agent = result["simulator"]["agent"]
    assert agent["(all)"]["conversations"] == 4 and agent["(all)"]["successes"] >= 1
    assert sum(v["conversations"] for name, v in agent.items() if name != "(all)") == 4
    assert set(agent) - {"(all)"} <= {"model", "catalog"}
    assert result["product"]["population"]["label"] == "simulated"  # the cards were impressions of simulated users


def test_the_experiment_page_queues_a_simulation_and_refuses_bad_numbers(world: World, operator: Any) -> None:
    experiment = _experiment("paged")
    browser = Client()
    browser.force_login(operator)
    url = reverse("console:experiment_simulate", args=[experiment.pk])
    refused = browser.post(url, {"users": "many", "hours": "24"}, follow=True)
    assert "many" in refused.content.decode() and "is not a number" in refused.content.decode()
    assert not TaskRun.objects.exists()
    browser.post(url, {"users": "50", "hours": "12"})
    run = TaskRun.objects.get(task_name=SIMULATION_BENCH_TASK)
    assert run.kwargs == {"experiment": "paged", "users": 50, "hours": 12.0} and run.status == TaskRun.Status.QUEUED
    page = browser.get(reverse("console:experiment", args=[experiment.pk]))
    assert f"Job <a href=\"/ops/taskrun/{run.pk}/change/\">#{run.pk}</a>: queued".encode() in page.content
