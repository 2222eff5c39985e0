"""Simulated traffic: requests that say `simulated=true` (a query parameter every API endpoint
accepts) come from a user simulator (simulation/), not from people. While such a request is
served, a context variable says so, and everything it writes is marked: impressions,
experiment exposures, events, chat sessions and the end users it creates. Marked rows can be
left out of training (`SIMULATED_TRAFFIC_IN_TRAINING`) and of reports, or purged in one action
(`catalog.services.simulated_traffic_purge`)."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Which traffic a report counts: everything, people only, or the simulator only.
Population = Literal["all", "real", "simulated"]
POPULATIONS: tuple[Population, ...] = ("all", "real", "simulated")
POPULATION_NAMES: dict[str, str] = {"all": "all traffic", "real": "people only", "simulated": "simulated users only"}

_simulated: contextvars.ContextVar[bool] = contextvars.ContextVar("simulated_traffic", default=False)
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


def is_simulated() -> bool:
    return _simulated.get()


@contextmanager
def simulated_traffic(flag: bool = True) -> Iterator[None]:
    token = _simulated.set(flag)
    try:
        yield
    finally:
        _simulated.reset(token)


def population_of(raw: str | None) -> Population:
    """A page's `?population=` value; anything unknown counts all traffic."""
    return next((p for p in POPULATIONS if p == raw), "all")


def in_training_sql(alias: str) -> str:
    """A SQL condition on an interactions alias: true for rows training may read."""
    return "true" if settings.SIMULATED_TRAFFIC_IN_TRAINING else f"NOT {alias}.simulated"


def population_sql(alias: str, population: Population) -> str:
    """A SQL condition on a table with a `simulated` column that keeps the chosen population."""
    return {"all": "true", "real": f"NOT {alias}.simulated", "simulated": f"{alias}.simulated"}[population]


def population_label(simulated: int, total: int) -> str:
    """How a report is labelled: 'simulated' when all of it is, 'mixed', 'real', or '' (empty)."""
    if not total:
        return ""
    return "simulated" if simulated == total else "mixed" if simulated else "real"


class SimulatedTrafficMiddleware:
    """Reads `?simulated=` on API requests; a value other than true/false is a 400 naming it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.GET.get("simulated")
        if raw is None or not request.path.startswith("/api/"):
            return self.get_response(request)
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            body = {"error": {"code": "invalid", "message": f"simulated: {raw!r} is not true or false.",
                              "details": {"simulated": ["Must be true or false."]}}}  # fmt: skip
            return HttpResponse(json.dumps(body), status=400, content_type="application/json")
        with simulated_traffic(value in _TRUE):
            return self.get_response(request)
