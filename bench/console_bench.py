"""Server time and query count of each console page, on the demo data or the 100k-item catalog.

Each page is requested in-process through Django's test client (middleware, view, queries,
template: everything the server does, without the network) as a console user in the `admin`
role. Per run: two warm-up requests, then --requests timed ones per page; p50 and p95 per
page, and the queries of one request. Baselines in the same run: /healthz (the floor of a
Django request here) and the stock admin index page. Figures are medians over --runs runs.
Target: p95 <= 300 ms on every page.

    python bench/console_bench.py --database demo      # the MovieLens demo (var/pgdata, recsys)
    python bench/console_bench.py --database bench     # 100k items (import_bench + prepare_serving_state)
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _setup import machine, median, setup_bench_django

TARGET_P95_MS = 300.0


def _pages(user_id: str, draft_pk: int | None, experiment_pk: int) -> dict[str, str]:
    from django.urls import reverse

    pages = {
        "baseline: /healthz": "/healthz",
        "baseline: admin index": reverse("admin:index"),
        "dashboard": reverse("console:dashboard"),
        "user preview (5 surfaces + 2 variants, explained)": reverse("console:preview") + f"?user={user_id}",
        "review queue": reverse("admin:curation_draft_changelist") + "?status__exact=pending_review",
        "prompts": reverse("admin:llmops_prompt_changelist"),
        "prompt versions": reverse("admin:llmops_promptversion_changelist"),
        "routes (usage today)": reverse("admin:llmops_route_changelist"),
        "traces": reverse("admin:llmops_trace_changelist"),
        "experiments": reverse("admin:ranking_experiment_changelist"),
        "jobs": reverse("admin:ops_taskrun_changelist"),
        "fairness": reverse("admin:safety_exposuredaily_changelist"),
        "items": reverse("admin:catalog_item_changelist"),
        "end users": reverse("admin:catalog_enduser_changelist"),
        "interactions": reverse("admin:catalog_interaction_changelist"),
        "audit log": reverse("admin:safety_auditentry_changelist"),
    }
    if draft_pk is not None:
        pages["draft review"] = reverse("admin:curation_draft_review", args=[draft_pk])
    pages["experiment results"] = reverse("admin:ranking_experiment_change", args=[experiment_pk])
    return pages


def _activity(users: list[str]) -> None:
    """Some served traffic with clicks, so the dashboard and fairness pages have rows to read."""
    from django.utils import timezone

    from recsys_app.catalog.services import interactions_ingest
    from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
    from recsys_app.safety.fairness import exposure_daily_compute

    for user in users:
        served = recommendations_serve(request=RecommendationRequest(surface="home", k=10, user_external_id=user))
        clicks = [{"user_id": user, "item_id": item.external_id, "type": "click", "request_id": str(served.request_id),
                   "timestamp": timezone.now().isoformat()} for item in served.items[:2]]  # fmt: skip
        interactions_ingest(rows=clicks)
    exposure_daily_compute(day=timezone.now().date())


def _experiment_running(user: Any) -> Any:
    """A two-variant experiment on home for the bench's duration, so the preview also serves
    two variants side by side and the experiment page has results to compute."""
    from recsys_app.ranking.experiments import experiment_start
    from recsys_app.ranking.models import Experiment

    variants = [{"name": "control", "weight": 1, "config": {}},
                {"name": "diverse", "weight": 1, "config": {"diversity": 0.6}}]  # fmt: skip
    experiment, _ = Experiment.objects.get_or_create(name="console-bench", defaults={"surface": "home",
                                                                                     "variants": variants})  # fmt: skip
    return experiment_start(experiment=experiment, by=user)


def _time_page(client: Any, url: str, requests: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        assert client.get(url).status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    count = len(queries)  # read now: the list is a view of the connection's log, which later requests reset
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)], count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["demo", "bench"], default="demo")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--traffic-users", type=int, default=100, help="users served (with clicks) before timing")
    args = parser.parse_args()
    setup_bench_django("recsys" if args.database == "demo" else "recsys_bench")
    from django.test import Client

    from curation.models import Draft
    from recsys_app.catalog.models import EndUser, Interaction, Item
    from recsys_app.console.roles import console_user_ensure, roles_sync
    from recsys_app.lib.paginator import table_estimate
    from recsys_app.ranking.experiments import experiment_stop

    roles_sync()
    user = console_user_ensure(username="console-bench", password="console-bench-password", roles=["admin"])
    sample = list(EndUser.objects.filter(consent_personalization=True).order_by("?")[: args.traffic_users])
    _activity([u.external_id for u in sample])
    active = Interaction.objects.filter(user=sample[0]).exists() and sample[0].external_id
    draft = Draft.objects.order_by("-pk").values_list("pk", flat=True).first()
    experiment = _experiment_running(user)
    pages = _pages(active or sample[0].external_id, draft, experiment.pk)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in pages}
    try:
        for run in range(args.runs):
            for name, url in pages.items():
                results[name].append(_time_page(client, url, args.requests))
            print(f"run {run + 1} done", flush=True)
    finally:
        experiment_stop(experiment=experiment, by=user)
    events = table_estimate("catalog_interaction")
    print(f"\nmachine: {machine()}; database '{args.database}': {Item.objects.count():,} items, "
          f"{EndUser.objects.count():,} end users, ~{events:,} interactions")  # fmt: skip
    print(f"{args.requests} requests per page and run, medians over {args.runs} runs; "
          f"target p95 <= {TARGET_P95_MS:.0f} ms")  # fmt: skip
    print("| page | p50 ms | p95 ms | queries | p95 within target |\n| --- | ---: | ---: | ---: | --- |")
    for name, runs in results.items():
        p50, p95 = median([r[0] for r in runs]), median([r[1] for r in runs])
        verdict = "" if name.startswith("baseline") else ("yes" if p95 <= TARGET_P95_MS else "**no**")
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {runs[-1][2]} | {verdict} |")


if __name__ == "__main__":
    main()
