"""What an A/B experiment decides about model calls made while serving one unit: a pinned
prompt version or provider per prompt, and the experiments every trace written meanwhile is
tagged with (so an experiment's results can show its variants' calls, tokens and guardrail
verdicts). Both live in context variables, like the trace span, so nothing is passed down."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    version: int | None = None  # a prompt version's number; None: the production version
    provider: str | None = None  # a provider's name; None: the prompt's route


_pins: contextvars.ContextVar[dict[str, Pin] | None] = contextvars.ContextVar("llm_pins", default=None)
_experiments: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("llm_experiments", default=None)


@contextmanager
def generation_pinned(pins: dict[str, Pin], experiments: dict[str, str]) -> Iterator[None]:
    """Inside the block, calls of a pinned prompt use its pinned version and provider, and
    every trace records `experiments` ({experiment: variant})."""
    pins_token = _pins.set({**(_pins.get() or {}), **pins})
    tags_token = _experiments.set({**(_experiments.get() or {}), **experiments})
    try:
        yield
    finally:
        _pins.reset(pins_token)
        _experiments.reset(tags_token)


def pin_for(prompt: str) -> Pin | None:
    return (_pins.get() or {}).get(prompt)


def current_pins() -> dict[str, Pin]:
    return dict(_pins.get() or {})


def current_experiments() -> dict[str, str]:
    return dict(_experiments.get() or {})
