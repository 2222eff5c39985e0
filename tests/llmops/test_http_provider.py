"""The OpenAI-compatible provider against a real llama.cpp server (manage.py llm_serve), with
timeouts, server errors, malformed bodies, retries, fallback and streaming."""

from __future__ import annotations

import socket

import pytest

from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import Provider, Route
from recsys_app.llmops.prompts import version_create, version_for
from tests.llmops.conftest import Faults, http_provider

VARIABLES = {"item_title": "Alien", "signals": ["you liked Aliens"]}


def _route(provider: Provider, fallback: Provider | None = None) -> None:
    Route.objects.filter(use_case="explanations").update(provider=provider, fallback=fallback)


def test_answers_through_the_http_server(llm: None, openai_server: str) -> None:
    _route(http_provider("remote", openai_server))
    completion = llm_complete(prompt="explanation", variables=VARIABLES)
    assert completion.parsed["text"] and completion.trace.provider == "remote"
    assert completion.trace.tokens_in > 0 and completion.trace.tokens_out > 0


def test_streams_over_server_sent_events(llm: None, openai_server: str) -> None:
    _route(http_provider("remote", openai_server))
    # Greedy decoding, so the small model's answer is the same on every run (sampled, it now and
    # then repeats the prompt's "Found:" scaffolding, which the output chain rightly refuses).
    base = version_for(prompt_name="agent_reply")
    greedy = version_create(prompt=base.prompt, system=base.system, template=base.template,
                            params={**base.params, "temperature": 0.0})  # fmt: skip
    pieces: list[str] = []
    completion = llm_complete(prompt="agent_reply", number=greedy.number, on_token=pieces.append,
                              variables={"message": "scary films?", "items": [{"title": "Alien"}]})  # fmt: skip
    # Released a sentence at a time by the guardrail chain.
    assert pieces and "".join(pieces) == completion.text
    assert completion.trace.ttft_ms is not None and completion.trace.tokens_out > 0


def test_a_transient_5xx_is_retried(llm: None, faulty_front: tuple[str, Faults]) -> None:
    url, faults = faulty_front
    _route(http_provider("remote", url, max_retries=2))
    faults.plan = ["status:503"]
    completion = llm_complete(prompt="explanation", variables=VARIABLES)
    assert completion.trace.attempts == 2 and faults.seen == 2 and completion.parsed["text"]


def test_a_malformed_body_is_not_retried_and_the_fallback_answers(llm: None, faulty_front: tuple[str, Faults]) -> None:
    url, faults = faulty_front
    _route(http_provider("remote", url, max_retries=2), fallback=Provider.objects.get(name="local"))
    faults.plan = ["garbage"]
    completion = llm_complete(prompt="explanation", variables=VARIABLES)
    assert faults.seen == 1, "a malformed body is not transient"
    assert completion.trace.provider == "local" and completion.parsed["text"]


def test_a_timeout_and_a_provider_that_is_down_give_a_clear_error(llm: None, openai_server: str) -> None:
    _route(http_provider("slow", openai_server, timeout_seconds=0.01, max_retries=1))
    with pytest.raises(LLMError) as slow:
        llm_complete(prompt="explanation", variables=VARIABLES)
    assert slow.value.kind == "provider" and "no answer within 0.01 s" in str(slow.value)
    assert slow.value.trace is not None and slow.value.trace.attempts == 2

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    _route(http_provider("down", f"http://127.0.0.1:{closed_port}/v1", max_retries=0))
    with pytest.raises(LLMError) as down:
        llm_complete(prompt="explanation", variables=VARIABLES)
    assert "cannot reach" in str(down.value) and down.value.trace.status == "error"


def test_a_client_error_is_not_retried(llm: None, faulty_front: tuple[str, Faults]) -> None:
    url, faults = faulty_front
    _route(http_provider("remote", url, max_retries=3))
    faults.plan = ["status:400"]
    with pytest.raises(LLMError) as caught:
        llm_complete(prompt="explanation", variables=VARIABLES)
    assert faults.seen == 1 and "HTTP 400" in str(caught.value)
