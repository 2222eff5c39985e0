"""The gateway with the real local model (SmolLM2-135M through llama.cpp in this process)."""

from __future__ import annotations

import sys

import pytest
from pydantic import BaseModel

from recsys_app.llmops.gateway import LLMError, llm_complete, llm_complete_as
from recsys_app.llmops.models import CacheEntry, PromptVersion, Provider, Route, Trace
from recsys_app.llmops.prompts import version_create, version_for
from recsys_app.llmops.tracing import trace_span, trace_tree
from tests.llmops.conftest import items_variables


def test_structured_answer_is_schema_valid_and_traced(llm: None) -> None:
    completion = llm_complete(prompt="collection_writer", variables=items_variables())
    assert set(completion.parsed) == {"title", "description", "notes"} and completion.parsed["title"]
    trace = completion.trace
    assert trace.status == Trace.Status.OK and trace.kind == Trace.Kind.LLM
    assert trace.prompt_version == version_for(prompt_name="collection_writer")
    assert (trace.provider, trace.model, trace.use_case) == ("local", "smollm2-135m", "curation")
    assert trace.tokens_in > 50 and trace.tokens_out > 5 and trace.latency_ms > 0
    assert trace.parsed == completion.parsed and trace.cache_hit == ""
    system = trace.input["messages"][0]["content"]
    assert "untrusted data" in system, "every call carries the base rule about data"
    assert "<data>" in trace.input["messages"][-1]["content"]


def test_repeated_calls_come_from_the_cache(llm: None) -> None:
    first = llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    again = llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    assert again.cache_hit == "exact" and again.text == first.text
    assert again.trace.tokens_in == 0 and again.trace.cache_hit == "exact"
    assert CacheEntry.objects.get().hits == 1


def test_semantic_cache_answers_a_near_duplicate_input(llm: None) -> None:
    Route.objects.filter(use_case="explanations").update(semantic_cache_threshold=0.9)
    llm_complete(prompt="explanation", variables={"item_title": "Alien (1979)", "signals": ["you liked Aliens"]})
    near = llm_complete(prompt="explanation", variables={"item_title": "Alien 1979", "signals": ["you liked Aliens"]})
    assert near.cache_hit == "semantic" and near.trace.attributes["similarity"] >= 0.9
    far = llm_complete(prompt="explanation", variables={"item_title": "Toy Story", "signals": ["popular now"]})
    assert far.cache_hit == ""


def test_streaming_delivers_tokens_as_they_come(llm: None) -> None:
    base = version_for(prompt_name="agent_reply")  # greedy: the same answer every run (see test_http_provider)
    greedy = version_create(prompt=base.prompt, system=base.system, template=base.template,
                            params={**base.params, "temperature": 0.0})  # fmt: skip
    pieces: list[str] = []
    completion = llm_complete(prompt="agent_reply", number=greedy.number, on_token=pieces.append,
                              variables={"message": "scary films?", "items": [{"title": "Alien"}]})  # fmt: skip
    # The guardrail chain releases the stream a sentence at a time (redacted, checked).
    assert pieces and "".join(pieces) == completion.text
    assert completion.trace.ttft_ms is not None and completion.trace.ttft_ms <= completion.trace.latency_ms


def test_the_local_model_stops_at_the_provider_timeout(llm: None) -> None:
    base = version_for(prompt_name="agent_reply")
    long = version_create(prompt=base.prompt, system=base.system, template=base.template,
                          params={"max_tokens": 300, "ignore_eos": True})  # fmt: skip
    Provider.objects.filter(name="local").update(timeout_seconds=0.3)
    with pytest.raises(LLMError) as caught:
        llm_complete(prompt="agent_reply", number=long.number, variables={"message": "hi", "items": []})
    assert caught.value.kind == "provider" and "no answer within 0.3 s" in str(caught.value)
    assert caught.value.trace.latency_ms < 5000, "generation stopped, not run to 300 tokens"


def test_missing_variable_is_a_clear_error_with_a_trace(llm: None) -> None:
    with pytest.raises(LLMError) as caught:
        llm_complete(prompt="explanation", variables={"signals": ["x"]})
    assert caught.value.kind == "prompt" and "item_title" in str(caught.value)
    assert caught.value.trace is not None and caught.value.trace.status == Trace.Status.ERROR
    assert "item_title" in caught.value.trace.error


def test_output_that_cannot_match_the_schema_fails_after_one_repair(llm: None) -> None:
    base = version_for(prompt_name="explanation")
    version_create(prompt=base.prompt, system=base.system, template=base.template, output_schema=base.output_schema,
                   params={"max_tokens": 3}, examples=base.examples)  # fmt: skip
    with pytest.raises(LLMError) as caught:
        llm_complete(prompt="explanation", number=2, variables={"item_title": "Alien", "signals": ["x"]})
    assert caught.value.kind == "schema" and "after one repair" in str(caught.value)
    assert caught.value.trace is not None and caught.value.trace.attempts == 2


def test_budget_and_rate_limit_refuse_further_calls(llm: None) -> None:
    Route.objects.filter(use_case="explanations").update(daily_token_budget=10)
    llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    with pytest.raises(LLMError) as caught:
        llm_complete(prompt="explanation", variables={"item_title": "Heat", "signals": ["popular"]})
    assert caught.value.kind == "budget" and "10 tokens" in str(caught.value)
    route = Route.objects.get(use_case="explanations")
    route.daily_token_budget, route.requests_per_minute = None, 1
    route.save()  # through the ORM, so this process's registry cache forgets the old limits
    with pytest.raises(LLMError) as limited:
        llm_complete(prompt="explanation", variables={"item_title": "Heat", "signals": ["popular"]})
    assert limited.value.kind == "rate_limit"
    assert Trace.objects.filter(status=Trace.Status.ERROR).count() == 2


def test_daily_cost_budget_counts_the_provider_prices(llm: None) -> None:
    Provider.objects.filter(name="local").update(cost_per_1k_input="1.0", cost_per_1k_output="2.0")
    route = Route.objects.get(use_case="explanations")
    route.daily_cost_budget = "0.01"
    route.save()
    first = llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["you liked Aliens"]})
    expected = (first.trace.tokens_in * 1 + first.trace.tokens_out * 2) / 1000
    assert float(first.trace.cost) == pytest.approx(expected) and expected > 0.01
    with pytest.raises(LLMError, match=r"spent its budget of 0\.01"):
        llm_complete(prompt="explanation", variables={"item_title": "Heat", "signals": ["popular"]})


class Explanation(BaseModel):
    text: str


def test_answers_parse_into_pydantic_models(llm: None) -> None:
    variables = {"item_title": "Alien", "signals": ["you liked Aliens"]}
    parsed, completion = llm_complete_as(Explanation, prompt="explanation", variables=variables)
    assert isinstance(parsed, Explanation) and parsed.text == completion.parsed["text"]

    class Wrong(BaseModel):
        score: int

    with pytest.raises(LLMError) as caught:
        llm_complete_as(Wrong, prompt="explanation", variables={"item_title": "Heat", "signals": ["popular"]})
    assert caught.value.kind == "schema" and caught.value.trace.status == Trace.Status.ERROR


def test_a_version_written_for_another_model_uses_it_then_the_fallback(llm: None) -> None:
    base = version_for(prompt_name="explanation")
    elsewhere = Provider.objects.create(name="elsewhere", kind="openai", base_url="http://127.0.0.1:9/v1",
                                        model="big", max_retries=0)  # fmt: skip
    # Greedy decoding: the test is about the fallback, so the local answer must not vary run to run
    # (at temperature 0.2 it now and then repeated the prompt and was refused by a guardrail).
    pinned = version_create(prompt=base.prompt, template=base.template, output_schema=base.output_schema,
                            provider=elsewhere, params={"temperature": 0.0, "max_tokens": 80})  # fmt: skip
    Route.objects.filter(use_case="explanations").update(fallback="local")
    variables = {"item_title": "Heat", "signals": ["popular"]}
    completion = llm_complete(prompt="explanation", number=pinned.number, variables=variables)
    assert completion.trace.provider == "local" and completion.trace.attempts == 2, "pinned model down: fallback"


def test_calls_inside_a_span_form_one_tree(llm: None) -> None:
    with trace_span("curation job", brief="space") as job, trace_span("draft"):
        llm_complete(prompt="explanation", variables={"item_title": "Alien", "signals": ["x"]})
    tree = trace_tree(job)
    assert [(depth, node.kind, node.name) for depth, node in tree] == [
        (0, "span", "curation job"), (1, "span", "draft"), (2, "llm", "explanation"),
    ]  # fmt: skip
    assert {node.root_id or node.pk for _, node in tree} == {job.pk}


def test_production_label_is_what_callers_get(llm: None) -> None:
    assert version_for(prompt_name="judge").label == PromptVersion.Label.PRODUCTION
    with pytest.raises(LLMError) as caught:
        llm_complete(prompt="no_such_prompt", variables={})
    assert caught.value.kind == "prompt"


def test_importing_urls_and_tasks_does_not_load_llama_cpp() -> None:
    import subprocess

    code = ("import django, os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'recsys_app.settings');"
            "django.setup(); import recsys_app.urls, recsys_app.llmops.tasks, recsys_app.llmops.gateway;"
            "sys.exit(1 if 'xllamacpp' in sys.modules else 0)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
