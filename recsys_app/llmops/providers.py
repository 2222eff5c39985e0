"""Model providers behind the gateway: llama.cpp in this process, or an OpenAI-compatible
HTTP endpoint. Both take the same request and give the same result; the gateway adds
routing, retries, fallback, caching, budgets and traces around them.

llama.cpp (xllamacpp) is imported only when a local model is first used.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from recsys_app.lib.model_files import verify_sha256
from recsys_app.llmops.models import Provider
from recsys_app.llmops.secrets import SecretError, env_secret, secret_decrypt, url_problem

log = logging.getLogger(__name__)
StreamCallback = Callable[[str], None]


class ProviderError(Exception):
    """A failed call. `transient` ones (timeouts, 5xx, 429, refused connections) are retried.

    The message says what happened in our words (a code, a status, the provider's name), never
    the upstream's body or the transport's text: errors reach traces, the playground and the chat
    API, and a reply body would let whoever can edit a provider read internal services. The
    details go to the server log only."""

    def __init__(self, message: str, *, transient: bool, code: str = "provider_error") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


@dataclass
class ChatRequest:
    messages: list[dict[str, str]]
    max_tokens: int = 256
    temperature: float = 0.2
    json_schema: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other sampling parameters, passed through

    def body(self, model: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model, "messages": self.messages, "max_tokens": self.max_tokens,
            "temperature": self.temperature, **self.extra,
        }  # fmt: skip
        if self.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": self.json_schema, "strict": True},
            }
        return body


@dataclass
class ChatResult:
    text: str
    tokens_in: int
    tokens_out: int
    ttft_ms: float | None = None
    stopped_by_length: bool = False


# --- local -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalModel:
    profile: str
    path: Path
    sha256: str


def local_model(profile: str) -> LocalModel:
    """The GGUF file of a local profile (settings.LLM_LOCAL_MODELS), verified by sha256."""
    try:
        spec = settings.LLM_LOCAL_MODELS[profile]
    except KeyError:
        known = ", ".join(sorted(settings.LLM_LOCAL_MODELS))
        raise ProviderError(f"unknown local model profile '{profile}' (known: {known})", transient=False) from None
    path = _resolve(spec["path"])
    if not path.is_file():
        raise ProviderError(f"local model '{profile}' is not installed at {path}: {spec['install']}", transient=False)
    return LocalModel(profile, verify_sha256(path, spec["sha256"]), spec["sha256"])


def _resolve(path: str) -> Path:
    """'package:relative/path' points into an installed package without importing it."""
    if ":" in path and not path.startswith("/"):
        package, _, relative = path.partition(":")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return Path(f"<package {package} not installed>") / relative
        return Path(next(iter(spec.submodule_search_locations))) / relative
    return Path(path)


class _LocalServer:
    """One llama.cpp instance per profile and process. Calls are serialised: the model is
    loaded with one slot, and the process's other threads wait their turn."""

    _instances: dict[str, _LocalServer] = {}
    _create_lock = threading.Lock()

    def __init__(self, model: LocalModel) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model.path)
        params.n_ctx = settings.LLM_LOCAL_CONTEXT
        params.n_parallel = 1
        params.cpuparams.n_threads = settings.LLM_LOCAL_THREADS
        params.cpuparams_batch.n_threads = settings.LLM_LOCAL_THREADS
        params.warmup = False
        params.verbosity = -1
        self.server = xllamacpp.Server(params)
        self.lock = threading.Lock()

    @classmethod
    def get(cls, model: LocalModel) -> _LocalServer:
        with cls._create_lock:
            if model.profile not in cls._instances:
                cls._instances[model.profile] = cls(model)
            return cls._instances[model.profile]


def local_chat(provider: Provider, request: ChatRequest, on_token: StreamCallback | None) -> ChatResult:
    """llama.cpp stops generating after the provider's timeout (`t_max_predict_ms`); an answer
    cut short by it is an error, like an HTTP timeout, not a short answer."""
    server = _LocalServer.get(local_model(provider.model))
    body = {"t_max_predict_ms": int(provider.timeout_seconds * 1000), **request.body(provider.model)}
    with server.lock:
        if on_token is None:
            result = _parse_completion(server.server.handle_chat_completions(body))
        else:
            result = _local_stream(server, body, on_token)
    if result.stopped_by_length and result.tokens_out < request.max_tokens:
        raise ProviderError(f"{provider.name}: no answer within {provider.timeout_seconds:g} s (stopped after "
                            f"{result.tokens_out} of {request.max_tokens} tokens)", transient=False)  # fmt: skip
    return result


def _local_stream(server: _LocalServer, body: dict[str, Any], on_token: StreamCallback) -> ChatResult:
    stream = _Stream(on_token)

    def chunk(data: Any) -> None:
        if isinstance(data, dict) and "error" in data:
            raise ProviderError(f"local model error: {data['error']}", transient=False)
        stream.feed(data)

    server.server.handle_chat_completions({**body, "stream": True, "stream_options": {"include_usage": True}}, chunk)
    return stream.result()


# --- HTTP --------------------------------------------------------------------------------


def http_chat(provider: Provider, request: ChatRequest, on_token: StreamCallback | None) -> ChatResult:
    url = provider.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", **_authorization(provider)}
    body = request.body(provider.model)
    timeout = httpx.Timeout(provider.timeout_seconds, connect=min(5.0, provider.timeout_seconds))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            if on_token is None:
                response = client.post(url, json=body, headers=headers)
                _raise_for_status(provider, response)
                return _parse_completion(_json(provider, response))
            body = {**body, "stream": True, "stream_options": {"include_usage": True}}
            with client.stream("POST", url, json=body, headers=headers) as response:
                _raise_for_status(provider, response)
                return _http_stream(response.iter_lines(), on_token)
    except httpx.TimeoutException as exc:
        raise ProviderError(f"no answer within {provider.timeout_seconds:g} s", transient=True,
                            code="provider_timeout") from exc  # fmt: skip
    except httpx.TransportError as exc:
        log.warning("provider %s: cannot reach %s: %s", provider.name, url, exc)
        raise ProviderError("cannot reach the provider", transient=True,
                            code="provider_unreachable") from exc  # fmt: skip
    except httpx.HTTPError as exc:  # an invalid URL, a body that does not decode, ...
        log.warning("provider %s: %s from %s: %s", provider.name, type(exc).__name__, url, exc)
        raise ProviderError("the provider's answer could not be read", transient=False,
                            code="provider_error") from exc  # fmt: skip


def _authorization(provider: Provider) -> dict[str, str]:
    """The provider's key as a bearer header, after checking where it may go: the base URL's host
    must be allowed now (a row saved before the allowlist changed is refused too)."""
    problem = url_problem(provider.base_url)
    if problem:
        log.warning("provider %s: base_url %s", provider.name, problem)
        raise ProviderError("the provider's host is not allowed (see the server log)", transient=False,
                            code="provider_not_allowed")  # fmt: skip
    try:
        key = secret_decrypt(provider.api_key_encrypted) or env_secret(provider.api_key_env)
    except SecretError as exc:
        log.warning("provider %s: %s", provider.name, exc)
        raise ProviderError("the provider's key cannot be used (see the server log)", transient=False,
                            code="provider_key") from exc  # fmt: skip
    return {"Authorization": f"Bearer {key}"} if key else {}


def _raise_for_status(provider: Provider, response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    response.read()
    log.warning("provider %s: HTTP %s from %s: %s", provider.name, response.status_code, response.url,
                response.text[:300])  # fmt: skip
    transient = response.status_code >= 500 or response.status_code in (408, 429)
    raise ProviderError(f"HTTP {response.status_code} from the provider", transient=transient,
                        code=f"provider_http_{response.status_code}")  # fmt: skip


def _json(provider: Provider, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        log.warning("provider %s: malformed body from %s: %r", provider.name, response.url, response.text[:200])
        raise ProviderError("malformed response body (not JSON)", transient=False,
                            code="provider_malformed") from exc  # fmt: skip


def _http_stream(lines: Iterator[str], on_token: StreamCallback) -> ChatResult:
    stream = _Stream(on_token)
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            data = json.loads(payload)
        except ValueError as exc:
            log.warning("malformed stream event: %r", payload[:200])
            raise ProviderError("malformed stream event (not JSON)", transient=False,
                                code="provider_malformed") from exc  # fmt: skip
        stream.feed(data)
    return stream.result()


class _Stream:
    """Collects OpenAI-shaped stream chunks (from llama.cpp's callback or SSE lines): passes
    text on as it comes and notes the time to the first token, usage and finish reason."""

    def __init__(self, on_token: StreamCallback) -> None:
        self.on_token = on_token
        self.started = time.perf_counter()
        self.first_ms: float | None = None
        self.parts: list[str] = []
        self.usage: dict[str, int] = {}
        self.finish: list[str] = []

    def feed(self, data: Any) -> None:
        self.finish.extend(_finish_reasons(data))
        text = _delta(data)
        if text:
            if self.first_ms is None:
                self.first_ms = (time.perf_counter() - self.started) * 1000
            self.parts.append(text)
            self.on_token(text)
        self.usage.update(_usage_of(data))

    def result(self) -> ChatResult:
        return ChatResult("".join(self.parts), self.usage.get("prompt_tokens", 0),
                          self.usage.get("completion_tokens", 0), self.first_ms,
                          stopped_by_length=bool(self.finish) and self.finish[-1] == "length")  # fmt: skip


# --- shapes ------------------------------------------------------------------------------


def _parse_completion(data: Any) -> ChatResult:
    try:
        text = data["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        log.warning("response without choices[0].message.content: %s", str(data)[:200])
        raise ProviderError("response without choices[0].message.content", transient=False,
                            code="provider_malformed") from exc  # fmt: skip
    usage = _usage_of(data)
    length = data["choices"][0].get("finish_reason") == "length"
    return ChatResult(text, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), stopped_by_length=length)


def _finish_reasons(data: Any) -> list[str]:
    try:
        return [c["finish_reason"] for c in data["choices"] if c.get("finish_reason")]
    except (KeyError, TypeError):
        return []


def _delta(data: Any) -> str:
    try:
        return data["choices"][0]["delta"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def _usage_of(data: Any) -> dict[str, int]:
    usage = data.get("usage") if isinstance(data, dict) else None
    return {k: int(v) for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else {}


def provider_chat(provider: Provider, request: ChatRequest, on_token: StreamCallback | None = None) -> ChatResult:
    if provider.kind == Provider.Kind.LOCAL:
        return local_chat(provider, request, on_token)
    return http_chat(provider, request, on_token)
