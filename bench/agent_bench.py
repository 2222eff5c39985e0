"""Agent figures with the local model (SmolLM2-135M, or the one LLM_LOCAL_PROFILE names):
task success on conversations generated from each catalog's facets (`agents/conversations.py`,
phrasings from `agents/data/phrasings.json`), per kind, language and template split; the
scripted set; turn latency p50/p95; the share of replies the model phrased. The response cache
is emptied first so every model call is made; every run is stored as an evaluation run.

    python bench/agent_bench.py [--catalog movielens|synth|both] [--count 300] [--runs 1]
    python bench/agent_bench.py --outside tests/data/agent/outside_conversations.jsonl

MovieLens runs on the curation bench's database (the demo catalog); the synthetic shop
(`bench/synth.py`: categories, colours, sizes, brands, prices) on `recsys_agent_synth`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _setup import ROOT, machine, setup_bench_django

SYNTH_ITEMS = 3000


def _movielens() -> None:
    setup_bench_django("recsys_curation_bench")
    from curation_bench import _ensure_catalog

    _ensure_catalog()


def _synth() -> None:
    setup_bench_django("recsys_agent_synth")
    from recsys_app.catalog.models import Item
    from recsys_app.llmops.seed import llm_defaults_ensure

    llm_defaults_ensure()
    if Item.objects.exists():
        return
    from synth import generate

    from recsys_app.catalog.importing import ImportRequest, import_file
    from recsys_app.retrieval.services import item_embeddings_refresh
    from recsys_app.retrieval.stats import item_stats_refresh

    print(f"generating and importing a {SYNTH_ITEMS}-item synthetic shop (first run only)…")
    out = Path(tempfile.mkdtemp())
    paths = generate(out, items=SYNTH_ITEMS, users=300, interactions=20_000, creators=50)
    for kind in ("creators", "items", "users", "interactions"):
        import_file(ImportRequest(path=paths[kind], kind=kind, fmt=None))
    item_embeddings_refresh()
    item_stats_refresh()


def run_outside(path: Path) -> None:
    """Conversations written outside the team (MovieLens), scored the same way; never tuned on."""
    _movielens()
    from agents.evaluation import file_evaluate
    from recsys_app.catalog.facets import facets_refresh
    from recsys_app.llmops.models import CacheEntry

    facets_refresh()
    CacheEntry.objects.all().delete()
    run = file_evaluate(path=path, name="outside-movielens")
    print(f"outside conversations ({path}): {run.cases} in {run.seconds:.0f} s (eval run {run.pk})")
    for key, value in run.scores.items():
        print(f"  {key}: {value}")


def run_catalog(name: str, count: int, runs: int, scripted: bool) -> None:
    (_movielens if name == "movielens" else _synth)()
    from django.conf import settings

    from agents.evaluation import agent_evaluate, generated_evaluate
    from recsys_app.catalog.facets import facets_refresh
    from recsys_app.llmops.models import CacheEntry

    facets_refresh()
    print(f"machine: {machine()}; local model: {settings.LLM_LOCAL_PROFILE}; catalog: {name}")
    noun = "movie" if name == "movielens" else "product"
    results = []
    for number in range(1, runs + 1):
        CacheEntry.objects.all().delete()
        run = generated_evaluate(catalog=name, count=count, seed=17 + number - 1, noun=noun)
        results.append(run.scores)
        print(f"run {number}: {run.cases} generated conversations in {run.seconds:.0f} s (eval run {run.pk})")
        for key, value in run.scores.items():
            print(f"  {key}: {value}")
    if runs > 1:
        for key in ("task_success", "latency_p50_ms", "latency_p95_ms", "model_phrased_share"):
            print(f"median of {runs} runs, {key}: {statistics.median(r[key] for r in results)}")
    if scripted:
        CacheEntry.objects.all().delete()
        run = agent_evaluate()
        print(f"scripted set: {run.cases} conversations (eval run {run.pk}): {run.scores}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", choices=["movielens", "synth", "both"], default="both")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--outside", type=Path, help="also score this file of conversations written outside")
    args = parser.parse_args()
    if args.outside is not None:
        run_outside(args.outside)
        return
    if args.catalog == "both":  # one process per catalog: each has its own database
        for name in ("movielens", "synth"):
            command = [sys.executable, __file__, "--catalog", name, "--count", str(args.count), "--runs",
                       str(args.runs)]  # fmt: skip
            subprocess.run(command, check=True, cwd=ROOT, env=os.environ.copy())
        return
    run_catalog(args.catalog, args.count, args.runs, scripted=args.catalog == "movielens")


if __name__ == "__main__":
    main()
