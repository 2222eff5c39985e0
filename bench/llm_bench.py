"""LLM gateway figures with the local model (SmolLM2-135M, llama.cpp in process).

- gateway overhead: each call's latency minus the time spent inside the provider call, both
  timed by the gateway (rendering, routing, limits, schema check, trace row; cache off); beside
  it the same request sent straight to xllamacpp, alternating with the gateway call;
- cache-hit latency: `llm_complete` answering from the exact cache;
- generation speed: tokens/s of a 200-token free-text answer through the gateway against
  bare xllamacpp, alternating;
- evaluation: one run of a prompt version over 100 cases.

    python bench/llm_bench.py [--pairs 20] [--cases 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _setup import machine, setup_bench_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--cases", type=int, default=100, help="0 skips the evaluation run")
    args = parser.parse_args()
    setup_bench_django()
    from recsys_app.llmops.seed import llm_defaults_ensure

    llm_defaults_ensure()
    print(f"machine: {machine()}; model: SmolLM2-135M-Instruct Q4_1, llama.cpp (xllamacpp) in process")
    overhead, bare_ms = _overhead(args.pairs)
    print(f"gateway overhead (latency minus provider time): p50 {statistics.median(overhead):.2f} ms, "
          f"p95 {sorted(overhead)[int(0.95 * len(overhead))]:.2f} ms; the provider call itself: "
          f"p50 {statistics.median(bare_ms):.0f} ms bare ({args.pairs} calls)")  # fmt: skip
    print(f"cache hit: p50 {statistics.median(_cache_hits(args.pairs)):.2f} ms")
    gateway_tps, bare_tps = _speed(max(3, args.pairs // 4))
    print(f"generation: gateway {statistics.median(gateway_tps):.1f} tokens/s, bare {statistics.median(bare_tps):.1f}"
          f" tokens/s, ratio {statistics.median(gateway_tps) / statistics.median(bare_tps):.3f}")  # fmt: skip
    if not args.cases:
        return
    seconds, scores = _evaluation(args.cases)
    print(f"evaluation run over {args.cases} cases: {seconds:.1f} s ({seconds / args.cases:.2f} s a case); {scores}")


def _bare(body: dict) -> tuple[float, int]:  # type: ignore[type-arg]
    from recsys_app.llmops.models import Provider
    from recsys_app.llmops.providers import _LocalServer, local_model

    server = _LocalServer.get(local_model(Provider.objects.get(name="local").model))
    started = time.perf_counter()
    with server.lock:
        response = server.server.handle_chat_completions(body)
    return (time.perf_counter() - started) * 1000, int(response["usage"]["completion_tokens"])


def _overhead(pairs: int) -> tuple[list[float], list[float]]:
    from recsys_app.llmops.gateway import llm_complete
    from recsys_app.llmops.prompts import render
    from recsys_app.llmops.providers import ChatRequest

    # llama.cpp reuses the KV cache of a repeated prompt prefix; off, so neither side of a pair
    # profits from the other having just processed the same prompt.
    version = _bench_version("explanation", {"temperature": 0.0, "max_tokens": 40, "cache_prompt": False})
    differences, bare_times = [], []
    for n in range(pairs + 2):
        variables = {"item_title": f"Film number {n}", "signals": ["you liked a film like it", "popular now"]}
        request = ChatRequest(render(version, variables), max_tokens=40, temperature=0.0,
                              json_schema=version.output_schema, extra={"cache_prompt": False})  # fmt: skip
        body = request.body("smollm2-135m")
        if n % 2:
            bare, _ = _bare(body)
        started = time.perf_counter()
        trace = llm_complete(prompt="explanation", number=version.number, variables=variables, use_cache=False).trace
        through = (time.perf_counter() - started) * 1000
        if not n % 2:
            bare, _ = _bare(body)
        if n >= 2:  # the first calls load the model and warm llama.cpp's caches
            differences.append(through - trace.attributes["provider_ms"])
            bare_times.append(bare)
    return differences, bare_times


def _bench_version(name: str, params: dict) -> Any:  # type: ignore[type-arg]
    """A new version of a seeded prompt with the bench's sampling parameters."""
    from recsys_app.llmops.prompts import version_create, version_for

    base = version_for(prompt_name=name)
    fields = ("system", "template", "variables_schema", "output_schema", "examples")
    return version_create(prompt=base.prompt, note="bench", params=params, **{f: getattr(base, f) for f in fields})


def _cache_hits(count: int) -> list[float]:
    from recsys_app.llmops.gateway import llm_complete

    variables = {"item_title": "Cached film", "signals": ["popular now"]}
    llm_complete(prompt="explanation", variables=variables)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        hit = llm_complete(prompt="explanation", variables=variables)
        times.append((time.perf_counter() - started) * 1000)
        assert hit.cache_hit == "exact"
    return times


def _speed(rounds: int) -> tuple[list[float], list[float]]:
    from recsys_app.llmops.gateway import llm_complete
    from recsys_app.llmops.prompts import render
    from recsys_app.llmops.providers import ChatRequest

    version = _bench_version(
        "agent_reply", {"temperature": 0.0, "max_tokens": 200, "ignore_eos": True, "cache_prompt": False}
    )
    gateway, bare, inside = [], [], []
    for n in range(rounds):
        variables = {"message": f"Tell me at length about film {n}", "items": [{"title": "Alien"}, {"title": "Heat"}]}
        body = ChatRequest(render(version, variables), max_tokens=200, temperature=0.0,
                           extra={"ignore_eos": True, "cache_prompt": False}).body("smollm2-135m")  # fmt: skip
        for side in ("bare", "gateway") if n % 2 else ("gateway", "bare"):
            if side == "bare":
                seconds, tokens = _bare(body)
                bare.append(tokens / (seconds / 1000))
            else:
                started = time.perf_counter()
                completion = llm_complete(
                    prompt="agent_reply", number=version.number, variables=variables, use_cache=False
                )
                gateway.append(completion.trace.tokens_out / (time.perf_counter() - started))
                inside.append(completion.trace.tokens_out / (completion.trace.attributes["provider_ms"] / 1000))
    print(f"  (inside the gateway's provider call: {statistics.median(inside):.1f} tokens/s)")
    return gateway, bare


def _evaluation(cases: int) -> tuple[float, dict[str, float]]:
    from recsys_app.llmops.evaluation import eval_run_create, eval_run_execute
    from recsys_app.llmops.models import EvalCase, EvalDataset
    from recsys_app.llmops.prompts import version_for

    EvalDataset.objects.filter(prompt_id="agent_router", name="bench").delete()
    dataset = EvalDataset.objects.create(prompt_id="agent_router", name="bench")
    subjects = ["horror films", "comedies", "a gift for my dad", "the weather", "something like Alien"]
    EvalCase.objects.bulk_create(
        EvalCase(dataset=dataset, variables={"message": f"I want {subjects[n % 5]} (request {n})"})
        for n in range(cases)
    )
    run = eval_run_create(version=version_for(prompt_name="agent_router"), dataset=dataset)
    started = time.perf_counter()
    run = eval_run_execute(run=run)
    return time.perf_counter() - started, run.scores


if __name__ == "__main__":
    main()
