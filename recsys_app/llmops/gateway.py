"""The only door to language models.

`llm_complete` resolves a prompt version, renders it, picks the provider of its use case's
route, answers from the cache when it can, enforces the route's rate limit and daily budget,
calls the provider (retrying transient errors with backoff, then the fallback provider),
checks structured output against the version's JSON schema with one repair attempt, and
writes one trace row for the call, successful or not.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from recsys_app.llmops.cache import cache_get, cache_get_similar, cache_key, cache_put
from recsys_app.llmops.models import PromptVersion, Provider, Route, Trace
from recsys_app.llmops.pinning import pin_for
from recsys_app.llmops.prompts import PromptError, registry_cache, render, version_for
from recsys_app.llmops.providers import ChatRequest, ChatResult, ProviderError, StreamCallback, provider_chat
from recsys_app.llmops.schemas import schema_problem
from recsys_app.llmops.tracing import trace_record
from recsys_app.safety.guardrails import StreamGuard, guard_input, guard_output

T = TypeVar("T", bound=BaseModel)
REPAIR = "Your answer was not valid: {error}. Answer again with only JSON that matches the schema."


class LLMError(Exception):
    """A call that produced no usable answer; `kind` is one of prompt, budget, rate_limit,
    provider, schema, guardrail. The trace row holds the details."""

    def __init__(self, message: str, *, kind: str, trace: Trace | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.trace = trace


@dataclass
class Completion:
    text: str
    parsed: Any
    trace: Trace
    version: PromptVersion
    cache_hit: str = ""


@dataclass
class _Call:
    """What one gateway call has gathered so far, for its trace."""

    version: PromptVersion | None = None
    provider: Provider | None = None
    messages: list[dict[str, str]] | None = None
    params: dict[str, Any] | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    attempts: int = 0
    ttft_ms: float | None = None
    cost: Decimal = Decimal(0)
    use_case: str = ""
    provider_ms: float = 0.0  # time inside provider calls; the rest of the latency is the gateway's
    repaired: bool = False  # the first answer failed the schema and the model was asked again
    guardrails: list[dict[str, Any]] = field(default_factory=list)  # verdicts, input then output
    removed: list[str] = field(default_factory=list)  # instructions the input check took out


def llm_complete(
    *,
    prompt: str,
    variables: dict[str, Any],
    label: str = PromptVersion.Label.PRODUCTION,
    number: int | None = None,
    provider: str | None = None,
    parent: Trace | None = None,
    on_token: StreamCallback | None = None,
    use_cache: bool = True,
    output_schema: dict[str, Any] | None = None,
) -> Completion:
    """Run a registered prompt; raise LLMError (with its trace) when no valid answer came.

    `output_schema` narrows the version's schema for this call (e.g. item ids limited to an
    enum of the ones retrieved, so a constrained decoder cannot cite any other)."""
    call = _Call()
    started = time.perf_counter()
    # A running experiment may pin the version or provider of a production call (pinning.py).
    pin = pin_for(prompt) if label == PromptVersion.Label.PRODUCTION and number is None else None
    try:
        number = pin.version if pin and pin.version else number
        call.version = version_for(prompt_name=prompt, label=label, number=number)
        call.use_case = call.version.prompt.use_case
        variables = _guarded_input(call, variables)
        call.messages = render(call.version, variables)
        call.params = _params(call.version)
        route = registry_cache.get(("route", call.use_case), lambda: _route(call.use_case))
        pinned_provider = (pin.provider if pin else None) or call.version.provider_id
        providers = _providers(route, call.use_case, provider, pinned_provider)
        call.provider = providers[0]
        schema = output_schema if output_schema is not None else call.version.output_schema
        request = ChatRequest(call.messages, json_schema=schema, **call.params)
        body = request.body(call.provider.model)
        key = cache_key(call.version, call.provider.model, body)
        threshold = route.semantic_cache_threshold if route else None
        if use_cache and on_token is None:
            hit = _cached(key, call, threshold)
            if hit is not None:
                return _finish_hit(call, hit, started, parent)
        _check_limits(route)
        stream = StreamGuard(on_token, context=call.messages[-1]["content"], removed=call.removed) if on_token else None
        result = _call_with_fallback(providers, request, call, stream)
        text, parsed = _validated(result.text, request, call, stream)
        if stream is not None:
            stream.flush()
        text, parsed = _guarded_output(call, text, parsed)
    except (PromptError, LLMError, ProviderError) as exc:
        raise _failed(call, exc, started, parent) from exc
    trace = _record(call, started, parent, output=text, parsed=parsed)
    if use_cache:
        cache_put(key, call.version, call.provider.model, call.messages[-1]["content"],
                  {"text": text, "parsed": parsed}, semantic=threshold is not None)  # fmt: skip
    return Completion(text, parsed, trace, call.version)


def llm_complete_as(result_type: type[T], **kwargs: Any) -> tuple[T, Completion]:
    """`llm_complete`, with the answer parsed into a pydantic model (an invalid one is an
    LLMError of kind schema)."""
    completion = llm_complete(**kwargs)
    try:
        return result_type.model_validate(completion.parsed), completion
    except ValidationError as exc:
        completion.trace.status, completion.trace.error = Trace.Status.ERROR, f"schema: {exc}"
        completion.trace.save(update_fields=["status", "error"])
        raise LLMError(f"answer does not fit {result_type.__name__}: {exc}", kind="schema",
                       trace=completion.trace) from exc  # fmt: skip


def _guarded_input(call: _Call, variables: dict[str, Any]) -> dict[str, Any]:
    """The guardrail chain over the variables (data): what the model and the trace get is the
    redacted, neutralised copy; a blocking verdict ends the call before any model sees it."""
    checked = guard_input(variables)
    call.guardrails.extend(checked.verdicts)
    call.removed = checked.removed
    if checked.blocked:
        raise LLMError(f"input refused by a guardrail ({checked.blocked})", kind="guardrail")
    return checked.value  # type: ignore[no-any-return]


def _guarded_output(call: _Call, text: str, parsed: Any) -> tuple[str, Any]:
    """The output guardrails over the answer (a cached one too: today's policy applies)."""
    if parsed is not None:
        detail = "valid after one repair" if call.repaired else "valid"
        call.guardrails.append(_verdict("schema", passed=True, action="none", detail=detail))
    checked = guard_output(text, parsed, context=call.messages[-1]["content"] if call.messages else "",
                           removed=call.removed)
    call.guardrails.extend(checked.verdicts)
    if checked.blocked:
        raise LLMError(f"answer refused by a guardrail ({checked.blocked})", kind="guardrail")
    return checked.value  # type: ignore[no-any-return]


def _verdict(name: str, *, passed: bool, action: str, detail: str) -> dict[str, Any]:
    return {"guardrail": name, "stage": "output", "passed": passed, "action": action, "score": None,
            "detail": detail, "ms": 0.0}  # fmt: skip


def _params(version: PromptVersion) -> dict[str, Any]:
    params = dict(version.params or {})
    out: dict[str, Any] = {
        "max_tokens": int(params.pop("max_tokens", 256)),
        "temperature": float(params.pop("temperature", 0.2)),
    }
    out["extra"] = params
    return out


def _route(use_case: str) -> Route | None:
    return Route.objects.select_related("provider", "fallback").filter(use_case=use_case).first()


def _providers(route: Route | None, use_case: str, explicit: str | None, pinned: str | None) -> list[Provider]:
    """An explicit provider alone (an evaluation must not silently measure another model); the
    version's own provider with the route's fallback; or the route's provider and fallback."""
    if explicit or pinned:
        name = explicit or pinned
        found = Provider.objects.filter(name=name, is_enabled=True).first()
        if found is None:
            raise LLMError(f"provider '{name}' does not exist or is disabled", kind="provider")
        fallback = route.fallback if route is not None and not explicit and route.fallback_id != found.pk else None
        return [found] + ([fallback] if fallback is not None and fallback.is_enabled else [])
    if route is None:
        default = Provider.objects.filter(name=settings.LLM_DEFAULT_PROVIDER, is_enabled=True).first()
        if default is None:
            raise LLMError(f"no route for use case '{use_case}' and no default provider", kind="provider")
        return [default]
    enabled = [p for p in (route.provider, route.fallback) if p is not None and p.is_enabled]
    if not enabled:
        raise LLMError(f"every provider of use case '{use_case}' is disabled", kind="provider")
    return enabled


def _cached(key: str, call: _Call, threshold: float | None) -> dict[str, Any] | None:
    hit = cache_get(key)
    if hit is not None:
        return {**hit, "kind": "exact"}
    if threshold is not None and call.version is not None and call.provider is not None and call.messages:
        similar = cache_get_similar(call.version, call.provider.model, call.messages[-1]["content"], threshold)
        if similar is not None:
            return {**similar, "kind": "semantic"}
    return None


def _check_limits(route: Route | None) -> None:
    """Rate limit per minute and daily token and cost budgets of the route's use case."""
    if route is None:
        return
    now = timezone.now()
    calls = Trace.objects.filter(use_case=route.use_case, kind=Trace.Kind.LLM, cache_hit="")
    if route.requests_per_minute is not None:
        recent = calls.filter(started_at__gte=now - timedelta(minutes=1)).count()
        if recent >= route.requests_per_minute:
            raise LLMError(f"use case '{route.use_case}' is limited to {route.requests_per_minute} calls a minute",
                           kind="rate_limit")  # fmt: skip
    if route.daily_token_budget is None and route.daily_cost_budget is None:
        return
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = calls.filter(started_at__gte=today).aggregate(tin=Sum("tokens_in"), tout=Sum("tokens_out"),
                                                         cost=Sum("cost"), n=Count("pk"))  # fmt: skip
    tokens = (used["tin"] or 0) + (used["tout"] or 0)
    if route.daily_token_budget is not None and tokens >= route.daily_token_budget:
        raise LLMError(f"use case '{route.use_case}' has used its {route.daily_token_budget} tokens for today",
                       kind="budget")  # fmt: skip
    if route.daily_cost_budget is not None and (used["cost"] or 0) >= route.daily_cost_budget:
        raise LLMError(f"use case '{route.use_case}' has spent its budget of {route.daily_cost_budget} for today",
                       kind="budget")  # fmt: skip


def _call_with_fallback(
    providers: list[Provider], request: ChatRequest, call: _Call, on_token: StreamCallback | None
) -> ChatResult:
    errors: list[str] = []
    for provider in providers:
        call.provider = provider
        try:
            return _call_with_retries(provider, request, call, on_token)
        except ProviderError as exc:
            errors.append(f"{provider.name} ({exc.code}): {exc}")
            if getattr(on_token, "emitted", False):
                break  # words already went out: another model's answer would follow them
    raise LLMError("; ".join(errors), kind="provider")


def _call_with_retries(
    provider: Provider, request: ChatRequest, call: _Call, on_token: StreamCallback | None
) -> ChatResult:
    for attempt in range(provider.max_retries + 1):
        call.attempts += 1
        started = time.perf_counter()
        try:
            result = provider_chat(provider, request, on_token)
        except ProviderError as exc:
            call.provider_ms += (time.perf_counter() - started) * 1000
            if not exc.transient or attempt == provider.max_retries or getattr(on_token, "emitted", False):
                raise
            time.sleep(min(8.0, settings.LLM_RETRY_BASE_SECONDS * 2**attempt) * (0.5 + random.random() / 2))
            continue
        call.provider_ms += (time.perf_counter() - started) * 1000
        _count(call, provider, result)
        return result
    raise AssertionError("unreachable")


def _count(call: _Call, provider: Provider, result: ChatResult) -> None:
    call.tokens_in += result.tokens_in
    call.tokens_out += result.tokens_out
    call.ttft_ms = call.ttft_ms if call.ttft_ms is not None else result.ttft_ms
    call.cost += (Decimal(result.tokens_in) * provider.cost_per_1k_input
                  + Decimal(result.tokens_out) * provider.cost_per_1k_output) / 1000  # fmt: skip


def _validated(text: str, request: ChatRequest, call: _Call, on_token: StreamCallback | None) -> tuple[str, Any]:
    """Free text passes as is; structured output must parse and match the schema, with one
    repair attempt that shows the model its error."""
    if request.json_schema is None:
        return text, None
    problem = _schema_problem(text, request.json_schema)
    if problem is None:
        return text, json.loads(text)
    assert call.provider is not None
    call.repaired = True
    repair = ChatRequest(
        [*request.messages, {"role": "assistant", "content": text},
         {"role": "user", "content": REPAIR.format(error=problem)}],
        request.max_tokens, request.temperature, request.json_schema, request.extra,
    )  # fmt: skip
    text = _call_with_retries(call.provider, repair, call, on_token).text
    second = _schema_problem(text, request.json_schema)
    if second is not None:
        raise LLMError(f"output does not match the schema after one repair: {second}", kind="schema")
    return text, json.loads(text)


def _schema_problem(text: str, schema: dict[str, Any]) -> str | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON ({exc})"
    return schema_problem(value, schema)


def _finish_hit(call: _Call, hit: dict[str, Any], started: float, parent: Trace | None) -> Completion:
    assert call.version is not None
    text, parsed = _guarded_output(call, hit["text"], hit.get("parsed"))  # today's policy, even for old answers
    trace = _record(call, started, parent, output=text, parsed=parsed, cache_hit=hit["kind"],
                    attributes={"similarity": hit["similarity"]} if "similarity" in hit else {})  # fmt: skip
    return Completion(text, parsed, trace, call.version, hit["kind"])


def _failed(call: _Call, exc: Exception, started: float, parent: Trace | None) -> LLMError:
    kind = exc.kind if isinstance(exc, LLMError) else "prompt" if isinstance(exc, PromptError) else "provider"
    if kind == "schema":
        call.guardrails.append(_verdict("schema", passed=False, action="block", detail=str(exc)[:300]))
    trace = _record(call, started, parent, error=f"{kind}: {exc}", status=Trace.Status.ERROR)
    return LLMError(str(exc), kind=kind, trace=trace)


def _record(call: _Call, started: float, parent: Trace | None, **fields: Any) -> Trace:
    version = call.version
    fields["attributes"] = {**fields.get("attributes", {}), "provider_ms": round(call.provider_ms, 2)}
    if call.repaired:
        fields["attributes"]["repaired"] = True
    if call.guardrails:
        fields["attributes"]["guardrails_ms"] = round(sum(v["ms"] for v in call.guardrails), 3)
    return trace_record(
        guardrails=call.guardrails,
        parent=parent,
        name=version.prompt_id if version else "(unresolved prompt)",
        use_case=call.use_case,
        prompt_version=version,
        provider=call.provider.name if call.provider else "",
        model=call.provider.model if call.provider else "",
        input={"messages": call.messages or [], "params": call.params or {}},
        tokens_in=call.tokens_in,
        tokens_out=call.tokens_out,
        latency_ms=(time.perf_counter() - started) * 1000,
        ttft_ms=call.ttft_ms,
        cost=call.cost,
        attempts=max(call.attempts, 1),
        **fields,
    )
