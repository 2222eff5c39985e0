"""Curation figures on the MovieLens demo catalog with the local model (SmolLM2-135M, or
the one LLM_LOCAL_PROFILE names).

- one draft end to end (retrieve, rank and diversify, write, check, store), in process,
  median over several briefs; beside it, in the same runs, the time outside the model call
  (the pipeline's own work, what a template-only writer would cost);
- drafts per hour with a real Celery worker of 2 processes, against 1 process in the same
  run, each after a warm-up round (model loads) that is not counted;
- share of drafts whose model answer passed every check on the first try (no repair, nothing
  dropped), over all drafts of the run;
- items of published collections that are not in the catalog: every drafted collection is
  approved and published, then the serving rows are checked against the catalog (must be 0).

    python bench/curation_bench.py [--single 6] [--per-round 8]
    LLM_LOCAL_PROFILE=qwen2.5-coder-1.5b python bench/curation_bench.py --single 4 --per-round 0

Runs on its own database (`recsys_curation_bench`, the demo loaded on first use).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, ensure_demo_catalog, machine, setup_bench_django

THEMES = [
    "cozy rainy-day films", "a night of scares", "space adventures", "films about friendship",
    "heists and detectives", "animated family favourites", "love stories", "true stories on screen",
    "westerns", "war films", "musicals", "road trips", "films about music", "coming of age",
    "courtroom dramas", "monsters and creatures",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--single", type=int, default=6, help="briefs drafted in process, one after another")
    parser.add_argument("--per-round", type=int, default=8, help="briefs per worker round; 0 skips the rounds")
    args = parser.parse_args()
    broker = Path(tempfile.mkdtemp(prefix="curation-bench-broker-"))
    os.environ["RECSYS_BROKER_DIR"] = str(broker)
    database_url = setup_bench_django("recsys_curation_bench")
    ensure_demo_catalog()
    from django.conf import settings

    print(f"machine: {machine()}; local model: {settings.LLM_LOCAL_PROFILE} (llama.cpp in process), demo catalog")
    drafts: list[int] = []
    totals, outside, ids = _single(args.single)
    drafts += ids
    print(f"one draft end to end: median {statistics.median(totals):.1f} s over {len(totals)} briefs "
          f"(min {min(totals):.1f}, max {max(totals):.1f}); outside the model call: median "
          f"{statistics.median(outside):.2f} s")  # fmt: skip
    if args.per_round:
        drafts += _rounds(database_url, broker, args.per_round)
    _grounding(drafts)
    _published_outside_catalog(drafts)


def _rounds(database_url: str, broker: Path, per_round: int) -> list[int]:
    rates, drafts = {}, []
    for processes in (1, 2):
        rates[processes], ids = _throughput(database_url, broker, processes, per_round)
        drafts += ids
    print(f"drafts per hour: {rates[2]:.0f} with 2 worker processes, {rates[1]:.0f} with 1 "
          f"(x{rates[2] / rates[1]:.2f}); {per_round} briefs a round after a warm-up round")  # fmt: skip
    return drafts


def _brief(theme: str) -> int:
    from curation.models import Brief
    from curation.pipeline import brief_queue

    brief = Brief.objects.create(theme=theme, constraints={"max_items": 8})
    return brief_queue(brief=brief).pk


def _single(count: int) -> tuple[list[float], list[float], list[int]]:
    from curation.models import Draft
    from curation.pipeline import brief_run
    from recsys_app.llmops.models import Trace

    brief_run(brief_id=_brief("warm-up: comedies"))  # loads the embedding and language models
    totals, outside, ids = [], [], []
    for theme in THEMES[:count]:
        started = time.perf_counter()
        outcome = brief_run(brief_id=_brief(theme))
        total = time.perf_counter() - started
        if outcome.draft_id is None:
            continue
        draft = Draft.objects.get(pk=outcome.draft_id)
        calls = Trace.objects.filter(root_id=draft.trace_id, kind=Trace.Kind.LLM)
        totals.append(total)
        outside.append(total - sum(call.latency_ms for call in calls) / 1000)
        ids.append(draft.pk)
    return totals, outside, ids


def _throughput(database_url: str, broker: Path, processes: int, per_round: int) -> tuple[float, list[int]]:
    env = {**os.environ, "DATABASE_URL": database_url, "RECSYS_BROKER_DIR": str(broker)}
    cmd = [sys.executable, "-m", "celery", "-A", "recsys_app", "worker", "--concurrency", str(processes),
           "--loglevel", "WARNING", "-n", f"bench{processes}@%h", "--without-gossip", "--without-mingle"]  # fmt: skip
    with open(broker / f"worker{processes}.log", "wb") as log:
        worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _round([f"warm-up {n}: comedies" for n in range(processes)])
            themes = [f"{THEMES[n % len(THEMES)]} ({processes}/{n})" for n in range(per_round)]
            started = time.perf_counter()
            ids = _round(themes)
            elapsed = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    return per_round / elapsed * 3600, ids


def _round(themes: list[str]) -> list[int]:
    from curation.models import Brief, Draft
    from curation.tasks import brief_run_task

    briefs = [_brief(theme) for theme in themes]
    for brief_id in briefs:
        brief_run_task.delay(brief_id)
    pending = Brief.objects.filter(pk__in=briefs, status__in=[Brief.Status.QUEUED, Brief.Status.RUNNING])
    deadline = time.monotonic() + 1800
    while pending.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not finish the round in 30 minutes")
        time.sleep(0.5)
    return list(Draft.objects.filter(brief_id__in=briefs).values_list("pk", flat=True))


def _grounding(drafts: list[int]) -> None:
    from curation.models import Draft

    rows = Draft.objects.filter(pk__in=drafts)
    model = list(rows.filter(writer="model"))
    first = sum(1 for draft in model if draft.first_try_grounded)
    verdicts = [c for draft in model for c in draft.evidence.get("claims", [])]
    kept = sum(1 for c in verdicts if c["status"] in ("passed", "repaired"))
    failed = rows.filter(status=Draft.Status.FAILED).count()
    print(f"drafts: {rows.count()}; written by the model: {len(model)} (the rest fell back to the template); "
          f"every sentence passed on the first try: {first}/{rows.count()} = {first / max(rows.count(), 1):.2f}; "
          f"the model's sentences kept (passed or repaired) {kept}/{len(verdicts)}; "
          f"failed (safety hook): {failed}")  # fmt: skip


def _published_outside_catalog(drafts: list[int]) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from curation import services
    from curation.models import Draft

    operator, _ = get_user_model().objects.get_or_create(username="bench-op", defaults={"is_superuser": True})
    published = 0
    for draft in Draft.objects.filter(pk__in=drafts, status=Draft.Status.PENDING_REVIEW):
        draft = services.draft_claim(draft=draft, by=operator)
        draft = services.draft_approve(draft=draft, by=operator, revision=draft.revision)
        services.collection_publish(draft=draft, by=operator)
        published += 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE i.id IS NULL) FROM retrieval_curatedentry c "
            "LEFT JOIN catalog_item i ON i.id = c.item_id"
        )
        entries, outside = cursor.fetchone()
    print(f"published collections: {published}, {entries} serving rows; items not in the catalog: {outside}")


if __name__ == "__main__":
    main()
