"""Simulated users visiting the product through its API: each asks for a page, reacts to it
(`behaviour.react`), follows a clicked item to its similar items, and sends its events with the
request id of the page they answer. The report says what the simulator itself saw and did, so
what the product attributes can be checked against it, and how well the simulated users'
clicks follow their hidden tastes (calibration)."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulation.behaviour import Behaviour, Reaction, react
from simulation.client import ApiClient
from simulation.tastes import Tastes


@dataclass
class SimulationReport:
    users: int = 0
    requests: int = 0
    impressions: int = 0
    events: int = 0
    seconds: float = 0.0
    by_variant: dict[str, Counter[str]] = field(default_factory=dict)  # {variant: {impressions, click, ...}}
    shown: Counter[str] = field(default_factory=Counter)  # impressions by taste: liked, disliked, other
    clicked: Counter[str] = field(default_factory=Counter)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every event, as sent

    @property
    def users_per_second(self) -> float:
        return self.users / self.seconds if self.seconds else 0.0

    def calibration(self) -> dict[str, float]:
        """Click rate on shown items the user liked in the held-back data against the rest."""
        rates = {kind: self.clicked[kind] / self.shown[kind] if self.shown[kind] else 0.0
                 for kind in ("liked", "other")}  # fmt: skip
        return {"click_rate_liked": rates["liked"], "click_rate_other": rates["other"],
                "lift": rates["liked"] / rates["other"] if rates["other"] else 0.0,
                "shown_liked": self.shown["liked"], "shown_other": self.shown["other"]}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    surface: str = "home"
    k: int = 10
    pages: int = 2  # per visit: the surface, then the similar items of a clicked item (or the surface again)
    experiment: str | None = None  # count the report by this experiment's variants
    behaviour: Behaviour = field(default_factory=Behaviour)
    seed: int = 0


def simulate(client: ApiClient, users: list[Tastes], plan: Plan) -> SimulationReport:
    """One visit per user, in order; every page's events are sent before the next page."""
    rng = random.Random(plan.seed)
    report = SimulationReport()
    started = time.perf_counter()
    for tastes in users:
        _visit(client, tastes, plan, rng, report)
        report.users += 1
    report.seconds = time.perf_counter() - started
    return report


def _visit(client: ApiClient, tastes: Tastes, plan: Plan, rng: random.Random, report: SimulationReport) -> None:
    session = f"sim-{tastes.user_id}-{rng.randrange(1 << 30)}"
    seen: set[str] = set()
    body = client.recommendations(user_id=tastes.user_id, surface=plan.surface, k=plan.k, session_id=session)
    for page in range(1, plan.pages + 1):
        reactions = _answer(client, body, tastes, plan, rng, report, page=page, seen=seen)
        if page == plan.pages:
            break
        clicked = next((r.item_id for r in reactions if r.type == "click"), None)
        body = (client.similar(item_id=clicked, user_id=tastes.user_id, k=plan.k, session_id=session) if clicked
                else client.recommendations(user_id=tastes.user_id, surface=plan.surface, k=plan.k,
                                            session_id=session))  # fmt: skip


def _answer(client: ApiClient, body: dict[str, Any], tastes: Tastes, plan: Plan, rng: random.Random,
            report: SimulationReport, *, page: int, seen: set[str]) -> list[Reaction]:  # fmt: skip
    items = [item["item_id"] for item in body["items"]]
    variant = body.get("assignments", {}).get(plan.experiment, "") if plan.experiment else ""
    counts = report.by_variant.setdefault(variant, Counter())
    report.requests += 1
    report.impressions += len(items)
    counts["impressions"] += len(items)
    fresh = [item for item in items if item not in seen]
    reactions = react(items, tastes, behaviour=plan.behaviour, rng=rng, page=page, seen=seen)
    clicks = {r.item_id for r in reactions if r.type == "click"}
    for item in fresh:
        kind = "liked" if tastes.likes(item) else "disliked" if tastes.dislikes(item) else "other"
        report.shown[kind] += 1
        report.clicked[kind] += item in clicks
    rows = [_event(body, tastes, r) for r in reactions]
    for r in reactions:
        counts[r.type] += 1
    if rows:
        client.events(rows)
        report.events += len(rows)
        report.sent += rows
    return reactions


def _event(body: dict[str, Any], tastes: Tastes, reaction: Reaction) -> dict[str, Any]:
    return {"user_id": tastes.user_id, "item_id": reaction.item_id, "type": reaction.type,
            "request_id": body["request_id"], "timestamp": datetime.now(UTC).isoformat(),
            "surface": body.get("surface", "")}  # fmt: skip
