"""Simulated users visiting the product through its API: each visit starts on a surface (the
home list, a search for a kind of thing they like, or a published collection), the user reacts
to the page (`behaviour.react`), follows a clicked item to its similar items, and sends its
events with the request id of the page they answer. Over `hours` of simulated time a user comes
back about `hours / return_hours` more times, remembering what they were shown (novelty).

The report says what the simulator itself saw and did, so what the product attributes can be
checked against it, and how well the simulated users' clicks follow their hidden tastes
(calibration). `simulate` runs as fast as the product answers (a pre-launch bench); `run_live`
paces visits at a rate (a demo that lives)."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulation.behaviour import Behaviour, Reaction, react
from simulation.client import ApiClient, ApiError
from simulation.stats import wilson
from simulation.tastes import Tastes


@dataclass
class SimulationReport:
    users: int = 0
    visits: int = 0
    requests: int = 0
    impressions: int = 0
    events: int = 0
    errors: int = 0
    seconds: float = 0.0
    by_variant: dict[str, Counter[str]] = field(default_factory=dict)  # {variant: {impressions, click, ...}}
    by_surface: Counter[str] = field(default_factory=Counter)  # pages asked for, per entry surface
    shown: Counter[str] = field(default_factory=Counter)  # impressions by taste: liked, disliked, other
    clicked: Counter[str] = field(default_factory=Counter)
    sent: list[dict[str, Any]] = field(default_factory=list)  # every event, as sent (when keep_sent)
    keep_sent: bool = True  # a live run that goes on for days keeps counts only

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

    def variants(self) -> dict[str, dict[str, Any]]:
        """Per variant, as the simulator counted it: impressions, clicks, CTR with a Wilson 95%
        interval, and the share of its impressions the user liked (how good its items were)."""
        out = {}
        for name, counts in sorted(self.by_variant.items()):
            shown = counts["impressions"]
            out[name or "(outside the experiment)"] = {
                "impressions": shown, "clicks": counts["click"], "likes": counts["like"],
                "purchases": counts["purchase"], "ctr": wilson(counts["click"], shown),
                "liked_share": counts["liked_shown"] / shown if shown else 0.0,
            }  # fmt: skip
        return out

    def summary(self) -> dict[str, Any]:
        return {"users": self.users, "visits": self.visits, "requests": self.requests,
                "impressions": self.impressions, "events": self.events, "errors": self.errors,
                "seconds": round(self.seconds, 2), "users_per_second": round(self.users_per_second, 2),
                "surfaces": dict(self.by_surface), "calibration": self.calibration(),
                "variants": self.variants()}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    surface: str = "home"
    k: int = 10
    pages: int = 2  # per visit: the entry page, then the similar items of a clicked item (or the surface again)
    experiment: str | None = None  # count the report by this experiment's variants
    behaviour: Behaviour = field(default_factory=Behaviour)
    seed: int = 0
    hours: float = 0.0  # simulated time: each user comes back about hours / return_hours more times
    return_hours: float = 24.0
    search_share: float = 0.0  # visits that start with a search for the kind of thing the user likes
    collections_share: float = 0.0  # visits that start on a published collection


def visits_of(plan: Plan, rng: random.Random) -> int:
    """One visit, plus returns drawn from a Poisson process over the simulated hours."""
    expected = plan.hours / plan.return_hours if plan.return_hours > 0 else 0.0
    return 1 + _poisson(expected, rng)


def simulate(client: ApiClient, users: list[Tastes], plan: Plan, *,
             progress: Any = None) -> SimulationReport:  # fmt: skip
    """Every user's visits, in order, as fast as the product answers; each page's events are
    sent before the next page. `progress(done, total)` is called after each user."""
    rng = random.Random(plan.seed)
    report = SimulationReport()
    visitor = _Visitor(client, plan, rng, report)
    started = time.perf_counter()
    for done, tastes in enumerate(users, start=1):
        for _ in range(visits_of(plan, rng)):
            visitor.visit(tastes)
        report.users += 1
        if progress is not None:
            progress(done, len(users))
    report.seconds = time.perf_counter() - started
    return report


def run_live(client: ApiClient, users: list[Tastes], plan: Plan, *, visits_per_minute: float,
             stop: threading.Event, report: SimulationReport | None = None) -> SimulationReport:  # fmt: skip
    """Visits arriving at random (exponential gaps) at `visits_per_minute`, by users drawn at
    random, until `stop` is set. A failed visit (the product restarting, a rate limit) is
    counted and the next one goes on."""
    rng = random.Random(plan.seed)
    report = report if report is not None else SimulationReport(keep_sent=False)
    visitor = _Visitor(client, plan, rng, report)
    started = time.perf_counter()
    while not stop.wait(rng.expovariate(visits_per_minute / 60.0)):
        try:
            visitor.visit(rng.choice(users))
        except (ApiError, OSError):
            report.errors += 1
        report.users += 1
        report.seconds = time.perf_counter() - started
    return report


class _Visitor:
    def __init__(self, client: ApiClient, plan: Plan, rng: random.Random, report: SimulationReport) -> None:
        self.client, self.plan, self.rng, self.report = client, plan, rng, report
        self.seen: dict[str, set[str]] = {}  # per user, across visits
        self.topics: dict[str, str] = {}  # item id -> a word for the kind of thing it is (from the API)

    def visit(self, tastes: Tastes) -> None:
        session = f"sim-{tastes.user_id}-{self.rng.randrange(1 << 30)}"
        seen = self.seen.setdefault(tastes.user_id, set())
        body, entry = self._entry(tastes, session)
        self.report.visits += 1
        self.report.by_surface[entry] += 1
        for page in range(1, self.plan.pages + 1):
            reactions = self._answer(body, tastes, page=page, seen=seen)
            if page == self.plan.pages:
                break
            clicked = next((r.item_id for r in reactions if r.type == "click"), None)
            body = (self.client.similar(item_id=clicked, user_id=tastes.user_id, k=self.plan.k, session_id=session)
                    if clicked else self._home(tastes, session))  # fmt: skip

    def _entry(self, tastes: Tastes, session: str) -> tuple[dict[str, Any], str]:
        roll = self.rng.random()
        if roll < self.plan.search_share and tastes.liked:
            topic = self._topic(self.rng.choice(sorted(tastes.liked)))
            if topic:
                return self.client.search(text=topic, user_id=tastes.user_id, k=self.plan.k), "search"
        if roll >= 1 - self.plan.collections_share:
            body = self._collection(tastes, session)
            if body is not None:
                return body, "collection"
        return self._home(tastes, session), self.plan.surface

    def _home(self, tastes: Tastes, session: str) -> dict[str, Any]:
        return self.client.recommendations(user_id=tastes.user_id, surface=self.plan.surface, k=self.plan.k,
                                           session_id=session)  # fmt: skip

    def _collection(self, tastes: Tastes, session: str) -> dict[str, Any] | None:
        listed = self.client.get("/api/v1/collections", {"user_id": tastes.user_id, "session_id": session})
        if not listed["collections"]:
            return None
        chosen = self.rng.choice(listed["collections"])
        detail = self.client.get(f"/api/v1/collections/{chosen['id']}", {"user_id": tastes.user_id,
                                                                          "session_id": session})  # fmt: skip
        return {"request_id": detail["request_id"], "surface": "collections", "items": detail["entries"],
                "assignments": detail.get("assignments", {})}  # fmt: skip

    def _topic(self, item_id: str) -> str:
        """A word for what the item is (its first tag, else its top category), as a user would search."""
        if item_id not in self.topics:
            try:
                item = self.client.get(f"/api/v1/items/{item_id}")
            except ApiError:
                item = {}
            tags = [t for t in item.get("tags", []) if t]
            self.topics[item_id] = tags[0] if tags else str(item.get("category_path", "")).split("/")[0]
        return self.topics[item_id]

    def _answer(self, body: dict[str, Any], tastes: Tastes, *, page: int, seen: set[str]) -> list[Reaction]:
        plan, report = self.plan, self.report
        items = [item["item_id"] for item in body["items"]]
        variant = body.get("assignments", {}).get(plan.experiment, "") if plan.experiment else ""
        counts = report.by_variant.setdefault(variant, Counter())
        report.requests += 1
        report.impressions += len(items)
        counts["impressions"] += len(items)
        counts["liked_shown"] += sum(tastes.likes(item) for item in items)
        fresh = [item for item in items if item not in seen]
        reactions = react(items, tastes, behaviour=plan.behaviour, rng=self.rng, page=page, seen=seen)
        clicks = {r.item_id for r in reactions if r.type == "click"}
        for item in fresh:
            kind = "liked" if tastes.likes(item) else "disliked" if tastes.dislikes(item) else "other"
            report.shown[kind] += 1
            report.clicked[kind] += item in clicks
        rows = [_event(body, tastes, r) for r in reactions]
        for r in reactions:
            counts[r.type] += 1
        if rows:
            self.client.events(rows)
            report.events += len(rows)
            if report.keep_sent:
                report.sent += rows
        return reactions


def _event(body: dict[str, Any], tastes: Tastes, reaction: Reaction) -> dict[str, Any]:
    return {"user_id": tastes.user_id, "item_id": reaction.item_id, "type": reaction.type,
            "request_id": body["request_id"], "timestamp": datetime.now(UTC).isoformat(),
            "surface": body.get("surface", "")}  # fmt: skip


def _poisson(mean: float, rng: random.Random) -> int:
    """Knuth's method (means here are small)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
