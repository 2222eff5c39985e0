"""The harness around the user simulator (simulation/): who the simulated users are, the API
tokens they use, a pre-launch bench against a running experiment, the live demo traffic of
`make run`, and the demo experiment it fills. The simulator itself only speaks HTTP to the
product; this module is the operator's side (it may read the database to pick a population
and to report results, never to steer what a simulated user does).

Populations: on the MovieLens demo, the demo's users with held-back ratings (their hidden
tastes; `catalog/demo.py` never loaded those ratings). On any other catalog, simulated shoppers
with hidden category/price/brand tastes (`simulation/catalog_tastes.py`), created through the
users API and so marked simulated."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from recsys_app.accounts.services import api_token_create, api_token_revoke
from recsys_app.catalog.models import EndUser
from recsys_app.ops.models import TaskRun
from recsys_app.ranking.experiment_results import experiment_results, experiment_results_body
from recsys_app.ranking.models import Experiment
from simulation.catalog import catalog_items
from simulation.catalog_tastes import catalog_rows, catalog_tastes
from simulation.client import ApiClient
from simulation.conversation import ConversationPlan, ConversationReport, Shopper, converse, goals_draw
from simulation.run import Plan, SimulationReport, run_live, simulate
from simulation.tastes import Tastes

DEMO_EXPERIMENT = "demo-generated-content"
# Surfaces a bench can drive: lists asked for by surface, collections through their pages, and
# the agent through conversations with a hidden goal.
BENCH_SURFACES = {"home", "trending", "new_arrivals", "collections", "chat"}


@dataclass(frozen=True)
class BenchResult:
    experiment: str
    simulator: dict[str, Any]  # what the simulator saw and did (its own counts, calibration, throughput)
    product: dict[str, Any]  # the experiment's results as the product computes them, simulated traffic only

    def as_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "label": "simulated", "simulator": self.simulator,
                "product": self.product}  # fmt: skip


@contextmanager
def simulator_client(base_url: str | None = None) -> Iterator[ApiClient]:
    """A client with fresh serve and ingest tokens (rate-unlimited, expiring in a day), revoked
    when the block ends."""
    tokens = []
    secrets = {}
    for scope in ("serve", "ingest"):
        token, secret = api_token_create(name=f"user-simulator-{scope}", scopes=[scope],
                                         expires_at=timezone.now() + timedelta(days=1))  # fmt: skip
        tokens.append(token)
        secrets[scope] = secret
    client = ApiClient(base_url or settings.SIMULATOR_BASE_URL, serve_token=secrets["serve"],
                       ingest_token=secrets["ingest"])  # fmt: skip
    try:
        yield client
    finally:
        client.close()
        for token in tokens:
            api_token_revoke(token=token)


def simulated_population(client: ApiClient, *, users: int, seed: int) -> list[Tastes]:
    """`users` simulated users (fewer when the demo has fewer): the demo's users with held-back
    tastes when the MovieLens demo is loaded, else shoppers with drawn tastes, created now."""
    rng = random.Random(seed)
    demo = _demo_tastes()
    if demo:
        return rng.sample(demo, k=min(users, len(demo)))
    items = catalog_rows(catalog_items(client, limit=20_000, page_size=1000))
    drawn = catalog_tastes(items, users=users, rng=rng, prefix=f"sim-shopper-{seed}")
    for start in range(0, len(drawn), 500):
        client.post("/api/v1/users/bulk", {"users": [{"external_id": t.user_id} for t in drawn[start:start + 500]]},
                    scope="ingest")  # fmt: skip
    return drawn


def _demo_tastes() -> list[Tastes]:
    from recsys_app.catalog.demo import movielens_ratings
    from simulation.tastes import held_back

    known = set(EndUser.objects.filter(external_id__startswith="ml-u").values_list("external_id", flat=True))
    if not known:
        return []
    tastes = held_back(movielens_ratings()).tastes
    return [t for user, t in sorted(tastes.items()) if user in known and t.liked]


def bench_plan(experiment: Experiment, *, hours: float, seed: int) -> Plan:
    if experiment.surface not in BENCH_SURFACES:
        raise ValueError(f"experiment: the simulator drives {', '.join(sorted(BENCH_SURFACES))}; "
                         f"'{experiment.name}' is on '{experiment.surface}'")  # fmt: skip
    collections = experiment.surface == "collections"  # (a chat experiment runs conversations instead)
    return Plan(surface="home" if collections else experiment.surface, experiment=experiment.name, hours=hours,
                seed=seed, collections_share=1.0 if collections else 0.0)  # fmt: skip


def simulation_bench(*, experiment: str, users: int, hours: float, seed: int = 0, base_url: str | None = None,
                     progress: Callable[[int, int], None] | None = None) -> BenchResult:  # fmt: skip
    """Simulated traffic against a running experiment, as fast as the product answers, then the
    results per variant with intervals: the product's (simulated traffic only, labelled so) and
    the simulator's own counts beside them."""
    found = Experiment.objects.filter(name=experiment).first()
    if found is None:
        raise ValueError(f"experiment: no experiment named '{experiment}'")
    if found.status != Experiment.Status.RUNNING:
        raise ValueError(f"experiment: '{experiment}' is {found.status}; start it first (its units are assigned "
                         "only while it runs)")  # fmt: skip
    if users < 1 or hours < 0:
        raise ValueError(f"users: {users} and hours: {hours} must be at least 1 and 0")
    plan = bench_plan(found, hours=hours, seed=seed)
    with simulator_client(base_url) as client:
        population = simulated_population(client, users=users, seed=seed)
        if found.surface == "chat":
            summary = _conversations(client, population, experiment=found.name, seed=seed, progress=progress)
        else:
            summary = simulate(client, population, plan, progress=progress).summary()
    product = experiment_results_body(experiment_results(experiment=found, population="simulated"))
    return BenchResult(experiment, summary, product)


def _conversations(client: ApiClient, population: list[Tastes], *, experiment: str, seed: int,
                   progress: Callable[[int, int], None] | None) -> dict[str, Any]:  # fmt: skip
    """Each simulated user holds one conversation with the agent towards a hidden goal read off
    a real item; success, turns and abandonment per variant."""
    rng = random.Random(seed)
    goals = goals_draw(catalog_items(client, limit=5000, page_size=1000), count=len(population), rng=rng, narrow=20)
    shoppers = [Shopper(goal, user_id=tastes.user_id) for goal, tastes in zip(goals, population, strict=True)]
    plan = ConversationPlan(experiment=experiment, seed=seed)
    report = ConversationReport()
    started = time.perf_counter()
    for done, shopper in enumerate(shoppers, start=1):
        report.add(converse(client, shopper, plan, rng))
        if progress is not None:
            progress(done, len(shoppers))
    seconds = time.perf_counter() - started
    return {"users": len(shoppers), "conversations": len(shoppers), "seconds": round(seconds, 2),
            "users_per_second": round(len(shoppers) / seconds, 3) if seconds else 0.0,
            "agent": report.summary()}  # fmt: skip


def simulation_bench_start(*, experiment: Experiment, users: Any, hours: Any, by: Any = None) -> TaskRun:
    """Queue the bench as a job (the experiment page's button); bad numbers are refused by name."""
    from recsys_app.ops.services import job_enqueue
    from recsys_app.ops.tasks import SIMULATION_BENCH_TASK

    count, span = _number("users", users, int, 1, 5000), _number("hours", hours, float, 0, 720)
    if experiment.status != Experiment.Status.RUNNING:
        raise ValueError(f"experiment: '{experiment.name}' is {experiment.status}; start it first")
    bench_plan(experiment, hours=span, seed=0)  # refuses a surface the simulator cannot drive
    return job_enqueue(task_name=SIMULATION_BENCH_TASK, by=by,
                       kwargs={"experiment": experiment.name, "users": count, "hours": span})  # fmt: skip


def simulation_bench_latest(*, experiment: str) -> TaskRun | None:
    from recsys_app.ops.tasks import SIMULATION_BENCH_TASK

    return (TaskRun.objects.filter(task_name=SIMULATION_BENCH_TASK, kwargs__experiment=experiment)
            .order_by("-pk").first())  # fmt: skip


def _number(name: str, raw: Any, kind: type[int] | type[float], low: float, high: float) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is not between {low:g} and {high:g}")
    return value


def live_traffic(*, visits_per_minute: float, stop: threading.Event, base_url: str | None = None,
                 users: int = 200, seed: int = 0) -> SimulationReport:  # fmt: skip
    """The demo's background traffic: visits at a low rate until `stop` is set."""
    plan = Plan(surface="home", k=10, pages=2, seed=seed, search_share=0.1, collections_share=0.1)
    with simulator_client(base_url) as client:
        population = simulated_population(client, users=users, seed=seed)
        return run_live(client, population, plan, visits_per_minute=visits_per_minute, stop=stop)


def demo_experiment_ensure() -> Experiment | None:
    """The demo's running experiment: the home list with the generated content (published
    collections, written taste profiles) against without it. Nothing if one exists already."""
    from recsys_app.ranking.experiments import experiment_create, experiment_start

    if Experiment.objects.filter(name=DEMO_EXPERIMENT).exists():
        return None
    variants = [
        {"name": "generated-on", "weight": 1},
        {"name": "generated-off", "weight": 1, "generated": {"collections": False, "profiles": False}},
    ]
    experiment = experiment_create(name=DEMO_EXPERIMENT, surface="home", variants=variants)
    return experiment_start(experiment=experiment, by=None)
