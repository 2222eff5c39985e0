"""Generated content a reviewer would accept: collections and enrichments on the MovieLens demo
catalog, with the default generation model (Qwen2.5-Coder-1.5B) and SmolLM2-135M, in one run.

Sets (fixed, so runs compare):
- 20 briefs: 10 themes the claim checks were developed on, and 10 themes generated from the
  catalog (a genre and a decade that together hold at least 20 items, drawn with a fixed seed),
  which were not looked at while building; figures are given for both halves;
- 50 enrichment items: the 50 most popular items (no description: all of MovieLens is thin).

Per model: share of drafts whose first answer passed every check, share passing after the one
repair (nothing replaced or left out), sentences replaced or left out per draft, unsupported
claims left (every sentence of the final drafts checked again: must be 0), draft time p50/p95;
then drafts per hour through a real Celery worker (2 processes, each with the model in process)
and the worker's resident memory.

    python bench/generation_bench.py [--briefs 20] [--items 50] [--worker-briefs 6] [--models qwen,small]

Runs on its own database (`recsys_curation_bench`, the demo loaded on first use). Needs the
Qwen file (`make llm-model LLM_GENERATION_PROFILE=qwen2.5-coder-1.5b`, part of `make run`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _setup import ROOT, ensure_demo_catalog, machine, setup_bench_django

DEV_THEMES = [
    "a night of scares", "space adventures", "cozy rainy-day films", "love stories", "war films",
    "heists and detectives", "animated family favourites", "westerns", "musicals", "films about friendship",
]  # fmt: skip
PROFILES = {"qwen": "qwen2.5-coder-1.5b", "small": "smollm2-135m"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--briefs", type=int, default=20)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--worker-briefs", type=int, default=6, help="briefs through the worker; 0 skips it")
    parser.add_argument("--models", default="qwen,small")
    args = parser.parse_args()
    broker = Path(tempfile.mkdtemp(prefix="generation-bench-broker-"))
    os.environ["RECSYS_BROKER_DIR"] = str(broker)
    database_url = setup_bench_django("recsys_curation_bench")
    ensure_demo_catalog()
    themes = DEV_THEMES[: args.briefs // 2] + generated_themes(args.briefs - args.briefs // 2)
    items = _popular_items(args.items)
    print(f"machine: {machine()}; {len(themes)} briefs ({len(themes) // 2} dev, the rest generated from the "
          f"catalog), {len(items)} enrichment items")  # fmt: skip
    for key in args.models.split(","):
        profile = PROFILES[key]
        _use(profile)
        briefs = _briefs(themes)
        enriched = _enrichments(items)
        _report(profile, themes, briefs, enriched)
        if args.worker_briefs and key == "qwen":
            _worker_rate(database_url, broker, profile, themes[: args.worker_briefs])


def generated_themes(count: int, seed: int = 7) -> list[str]:
    """Themes drawn from the catalog: a genre and a decade that together hold 20+ items."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tag, (attributes->>'year')::int / 10 * 10 AS decade, count(*) FROM catalog_item, unnest(tags) tag "
            "WHERE attributes->>'year' ~ '^[0-9]{4}$' GROUP BY 1, 2 HAVING count(*) >= 20 ORDER BY 1, 2"
        )
        pairs = cursor.fetchall()
    chosen = random.Random(seed).sample(pairs, min(count, len(pairs)))
    return [f"{genre.lower()} films of the {decade}s" for genre, decade, _ in chosen]


def _use(profile: str) -> None:
    """Generation routes on this local model (as LLM_GENERATION_PROFILE would set them)."""
    from django.conf import settings

    from recsys_app.lib.local_cache import LocalCache
    from recsys_app.llmops.seed import llm_defaults_ensure

    settings.LLM_GENERATION_PROFILE = profile
    llm_defaults_ensure()
    LocalCache.clear_all()


def _popular_items(count: int) -> list[int]:
    from django.db.models.functions import Coalesce

    from recsys_app.catalog.models import Item

    rows = Item.objects.annotate(p=Coalesce("stats__popularity", 0.0)).order_by("-p", "pk")
    return list(rows.values_list("pk", flat=True)[:count])


def _briefs(themes: list[str]) -> list[tuple[int | None, float]]:
    from curation.models import Brief
    from curation.pipeline import brief_queue, brief_run

    brief_run(brief_id=brief_queue(brief=Brief.objects.create(theme="warm-up: comedies")).pk)  # loads the models
    out = []
    for theme in themes:
        brief = brief_queue(brief=Brief.objects.create(theme=theme, constraints={"max_items": 8}))
        started = time.perf_counter()
        outcome = brief_run(brief_id=brief.pk)
        out.append((outcome.draft_id, time.perf_counter() - started))
        if outcome.draft_id is None:
            print(f"  brief '{theme}': {outcome.status} ({outcome.reason})")
    return out


def _enrichments(items: list[int]) -> list[tuple[int, float]]:
    from curation.enrichment import enrichment_draft_create
    from recsys_app.catalog.models import Item

    out = []
    for item in Item.objects.filter(pk__in=items):
        started = time.perf_counter()
        draft = enrichment_draft_create(item=item)  # no job: the bench drafts the same items for each model
        out.append((draft.pk, time.perf_counter() - started))
    return out


def _report(profile: str, themes: list[str], briefs: list[tuple[int | None, float]],
            enriched: list[tuple[int, float]]) -> None:  # fmt: skip
    half = len(themes) // 2
    rows = [
        ("collections, dev themes", briefs[:half]),
        ("collections, generated themes", briefs[half:]),
        ("collections, all", briefs),
        ("enrichments", enriched),
    ]
    print(f"\n== {profile}")
    print("| set | drafts | first answer passed every check | passed after repair | sentences replaced or left "
          "out per draft | unsupported claims left | draft time p50 / p95 |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, pairs in rows:
        print("| " + name + " | " + " | ".join(_figures(pairs)) + " |")


def _figures(pairs: list[tuple[int | None, float]]) -> list[str]:
    from curation.models import Draft

    drafts = list(Draft.objects.filter(pk__in=[pk for pk, _ in pairs if pk]).select_related("brief", "item"))
    times = sorted(seconds for _, seconds in pairs)
    first = sum(1 for d in drafts if d.first_try_grounded)
    after = sum(1 for d in drafts if d.writer == "model" and _changed(d) == 0)
    changed = sum(_changed(d) for d in drafts) / max(len(drafts), 1)
    left = sum(_unsupported(d) for d in drafts)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] if times else 0.0
    n = max(len(drafts), 1)
    return [f"{len(drafts)}", f"{first}/{len(drafts)} = {first / n:.2f}", f"{after}/{len(drafts)} = {after / n:.2f}",
            f"{changed:.2f}", f"{left}", f"{statistics.median(times) if times else 0:.1f} / {p95:.1f} s"]  # fmt: skip


def _changed(draft: Any) -> int:
    return sum(1 for c in draft.evidence.get("claims", []) if c["status"] in ("replaced", "dropped"))


def _unsupported(draft: Any) -> int:
    """Sentences of the final draft that fail the claim checks when checked again."""
    from curation.checks import facts_of
    from curation.claims import check
    from curation.enrichment import neighbours_of
    from curation.faithfulness import grounds_for

    if draft.item_id:
        facts = facts_of([draft.item_id])[draft.item_id]
        grounds = grounds_for([facts, *neighbours_of(draft.item_id)])
        verdicts = check(draft.content["description"], part="note", grounds=grounds, item=facts)
    else:
        by_id = {f.external_id: f for f in facts_of(draft.items.values_list("item_id", flat=True)).values()}
        grounds = grounds_for(list(by_id.values()), context=draft.brief.theme)
        verdicts = check(draft.content["title"], part="title", grounds=grounds)
        verdicts += check(draft.content["description"], part="description", grounds=grounds)
        for note in draft.content["notes"]:
            verdicts += check(note["note"], part="note", grounds=grounds, item=by_id.get(note["item_id"]))
    return sum(1 for v in verdicts if v.status != "passed")


def _worker_rate(database_url: str, broker: Path, profile: str, themes: list[str]) -> None:
    """Drafts per hour through a real worker of 2 processes (each loads the model in process),
    after a warm-up round; the worker's resident memory at the end."""
    from curation.models import Brief
    from curation.pipeline import brief_queue
    from curation.tasks import brief_run_task

    env = {**os.environ, "DATABASE_URL": database_url, "RECSYS_BROKER_DIR": str(broker),
           "LLM_GENERATION_PROFILE": profile}  # fmt: skip
    cmd = [sys.executable, "-m", "celery", "-A", "recsys_app", "worker", "--concurrency", "2", "--loglevel",
           "WARNING", "-n", "genbench@%h", "--without-gossip", "--without-mingle"]  # fmt: skip
    with open(broker / "worker.log", "wb") as log:
        worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            rounds = []
            for batch in ([f"warm-up {n}: comedies" for n in range(2)], [f"{t} (worker)" for t in themes]):
                ids = [brief_queue(brief=Brief.objects.create(theme=t, constraints={"max_items": 8})).pk for t in batch]
                started = time.perf_counter()
                for brief_id in ids:
                    brief_run_task.delay(brief_id)
                pending = Brief.objects.filter(pk__in=ids, status__in=[Brief.Status.QUEUED, Brief.Status.RUNNING])
                while pending.exists():
                    time.sleep(0.5)
                rounds.append(time.perf_counter() - started)
            rss = _rss_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    print(f"\nworker (2 processes, model in process): {len(themes) / rounds[1] * 3600:.0f} drafts per hour "
          f"({len(themes)} briefs in {rounds[1]:.0f} s after a warm-up round); resident memory of the worker "
          f"and its children: {rss:.0f} MB")  # fmt: skip


def _rss_mb(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True)
    return sum(int(v) for v in out.stdout.split()) / 1024


if __name__ == "__main__":
    main()
