"""Simulated shoppers chatting with the recommendation agent, each with a hidden goal.

A goal is drawn from the catalog as the public item API shows it: a real, available item is
picked first (seeded), and the goal's constraints are read off it (one of its category levels
or tags, a price band around its price, the decade of its `year` attribute), so at least one
item meets every goal; `narrow` redraws goals that too many listed items meet.

The shopper opens with part of the goal (what they want, sometimes only its broader category
level), in words put together at random from templates: greeting, opener, one of several
phrasings per constraint, conjunctions. They then read each reply: when one of the top
`examine` cards meets every hidden constraint (checked on the item API, never the database)
they have found it, and click it (maybe buy it) with the turn's request id. Otherwise they say
a constraint not said yet, or, with all said, ask for something else or restate the whole goal
in other words. They give up after `max_turns` messages, or sooner when `patience` replies in a
row bring nothing new (abandonment). Cards that break a constraint already said are counted
(`violations`): the agent promises to keep to what it was told.

The report counts conversations, successes (with a Wilson 95% interval), turns to success and
abandonment, per variant of the chat experiment the sessions were in (the turns' `assignments`).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from simulation.client import ApiClient, ApiError
from simulation.stats import wilson


@dataclass(frozen=True)
class Constraint:
    """One hidden want: a category level or tag (`value`), or a numeric range on price or year."""

    facet: str  # category, tag, price, year
    value: str = ""
    low: Decimal | None = None
    high: Decimal | None = None
    currency: str = ""
    broader: str = ""  # a category's top level, for a shopper who starts vague ("outdoor" before "tents")

    def met_by(self, item: dict[str, Any]) -> bool:
        if self.facet == "category":
            return self.value.lower() in [s.lower() for s in (item.get("category_path") or "").split("/")]
        if self.facet == "tag":
            return self.value.lower() in [t.lower() for t in item.get("tags") or []]
        number = item.get("price") if self.facet == "price" else (item.get("attributes") or {}).get(self.facet)
        if number is None or isinstance(number, bool):
            return False
        value = Decimal(str(number))
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class Goal:
    constraints: tuple[Constraint, ...]
    source_item: str  # the item the goal was read off: it meets the goal

    def met_by(self, item: dict[str, Any]) -> bool:
        return all(c.met_by(item) for c in self.constraints)


@dataclass(frozen=True)
class Shopper:
    goal: Goal
    user_id: str | None = None  # None: an anonymous session, and no events are sent


def goals_draw(items: list[dict[str, Any]], *, count: int, rng: random.Random, most: int = 3,
               narrow: int | None = None, tries: int = 30) -> list[Goal]:  # fmt: skip
    """`count` goals, each read off an item drawn at random: a category level or tag, then up
    to `most - 1` of its price band and decade, so the item itself meets the goal. With
    `narrow`, a goal is drawn again (up to `tries` times) until at most `narrow` of `items`
    meet it, so that naming the category alone seldom finds it."""
    usable = [item for item in items if _what(item)]
    if not usable:
        raise ValueError("no item has a category or tag to make a goal of")
    return [_narrowest(usable, items, rng, most, narrow, tries) for _ in range(count)]


def _narrowest(usable: list[dict[str, Any]], items: list[dict[str, Any]], rng: random.Random, most: int,
               narrow: int | None, tries: int) -> Goal:  # fmt: skip
    best: tuple[int, Goal] | None = None
    for _ in range(tries if narrow is not None else 1):
        goal = _goal(rng.choice(usable), rng, most)
        matches = sum(goal.met_by(item) for item in items)
        best = (matches, goal) if best is None or matches < best[0] else best
        if narrow is None or matches <= narrow:
            break
    assert best is not None
    return best[1]


def _goal(item: dict[str, Any], rng: random.Random, most: int) -> Goal:
    numeric = [c for c in (_price_band(item, rng), _decade(item)) if c is not None]
    chosen = rng.sample(numeric, k=rng.randint(min(1, len(numeric)), min(len(numeric), most - 1)))
    what = _what(item)
    leaf = [c for c in what if c.facet == "category"][-1:]  # the narrowest level, most of the time
    return Goal((leaf[0] if leaf and rng.random() < 0.7 else rng.choice(what), *chosen), item["external_id"])


def _what(item: dict[str, Any]) -> list[Constraint]:
    levels = [s for s in (item.get("category_path") or "").split("/") if s]
    found = [Constraint("category", level, broader=levels[0] if level != levels[0] else "") for level in levels]
    return found + [Constraint("tag", t) for t in item.get("tags") or [] if t.lower() not in map(str.lower, levels)]


def _price_band(item: dict[str, Any], rng: random.Random) -> Constraint | None:
    if item.get("price") is None:
        return None
    price = Decimal(str(item["price"]))
    step = Decimal(rng.choice([5, 10, 10, 20]))
    floor = (price / step).to_integral_value(rounding="ROUND_FLOOR") * step
    low = floor if rng.random() < 0.4 and floor > 0 else None  # "between 20 and 30", else "under 30"
    high = floor + step  # above the price, never at it
    return Constraint("price", low=low, high=high, currency=item.get("currency") or "")


def _decade(item: dict[str, Any]) -> Constraint | None:
    year = (item.get("attributes") or {}).get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        return None
    start = year - year % 10
    return Constraint("year", low=Decimal(start), high=Decimal(start + 9))


GREETINGS = ["", "Hi! ", "Hello, ", "Hey there. ", "Good evening! "]
OPENERS = ["I'm looking for {}.", "Can you find me {}?", "Show me {}.", "I want {}.", "Do you have {}?",
           "I'd like {}.", "Help me find {}.", "Got {}?"]  # fmt: skip
WHAT = ["{v}", "something in {v}", "{v} items", "some {v}", "anything {v}", "{v} picks"]
PRICE_HIGH = ["under {h}", "for less than {h}", "at most {h}", "up to {h}", "{h} or less", "below {h}"]
PRICE_RANGE = ["between {l} and {h}", "from {l} to {h}"]
DECADE = ["from the {d}s", "from the {c}", "made in the {d}s", "released in the {c}", "between {l} and {h}"]
DECADE_WORDS = {0: "2000s", 10: "tens", 20: "twenties", 30: "thirties", 40: "forties", 50: "fifties",
                60: "sixties", 70: "seventies", 80: "eighties", 90: "nineties"}  # fmt: skip
CURRENCY_WORDS = {"EUR": ["euros", "eur", "EUR"], "USD": ["dollars", "bucks", "USD"], "GBP": ["pounds", "GBP"]}
JOINS = [" and ", ", ", " and also ", ", and "]
REFINE = ["{}.", "Also {}.", "Oh, and {}.", "Only {} please.", "Actually, {}."]
REFINE_RANGE = [*REFINE, "It should be {}.", "Make it {}.", "Actually I need it {}."]  # read wrong before a noun
ELSE = ["Something else please.", "Show me other ones.", "Anything else?", "Different ones please.",
        "Show me more.", "Other options?"]  # fmt: skip
REPHRASE = ["Let me put it another way: {}", "To be clear: {}", "Again: {}"]


def phrase(constraint: Constraint, rng: random.Random) -> str:
    """One constraint in words, one of several phrasings at random."""
    if constraint.facet in ("category", "tag"):
        return rng.choice(WHAT).format(v=constraint.value.lower() if rng.random() < 0.5 else constraint.value)
    if constraint.facet == "price":
        words = CURRENCY_WORDS.get(constraint.currency, [constraint.currency] if constraint.currency else [])
        money = f" {rng.choice(words)}" if words and rng.random() < 0.7 else ""
        bounds = {"l": _plain(constraint.low), "h": _plain(constraint.high) + money}
        return rng.choice(PRICE_RANGE if constraint.low is not None else PRICE_HIGH).format(**bounds)
    low = int(constraint.low or 0)
    word = DECADE_WORDS[low % 100] if 1920 <= low <= 2010 else f"{low}s"  # "the twenties" is not 1820
    return rng.choice(DECADE).format(d=low, c=word, l=low, h=int(constraint.high or 0))


def _plain(number: Decimal | None) -> str:
    return "" if number is None else f"{number.normalize():f}"


def say(constraints: list[Constraint], rng: random.Random, *, greet: bool = True) -> str:
    """Constraints in one request: greeting, opener, the phrasings joined at random."""
    parts = [phrase(c, rng) for c in constraints]
    body = parts[0] + "".join(rng.choice(JOINS) + part for part in parts[1:])
    return (rng.choice(GREETINGS) if greet else "") + rng.choice(OPENERS).format(body)


@dataclass(frozen=True)
class ConversationPlan:
    max_turns: int = 6  # messages a shopper sends before giving up
    patience: int = 2  # replies in a row with nothing new before giving up
    experiment: str | None = None  # count the report by this chat experiment's variants
    purchase: float = 0.3  # chance a found item is also bought
    examine: int = 5  # the top cards of a reply the shopper looks at
    vague: float = 0.5  # chance to open with a category's top level, not the one they want
    seed: int = 0
    rate_limit_waits: int = 3  # a 429 is waited out this many times per message

    def __post_init__(self) -> None:
        if (
            self.max_turns < 1
            or self.patience < 1
            or self.examine < 1
            or not 0 <= self.purchase <= 1
            or not 0 <= self.vague <= 1
        ):
            raise ValueError("max_turns, patience and examine are at least 1; purchase and vague are probabilities")


@dataclass
class Conversation:
    shopper: Shopper
    variant: str = ""
    turns: int = 0
    found: str | None = None  # the item that met the goal
    ended: str = ""  # found, max_turns, patience
    messages: list[str] = field(default_factory=list)
    shown: list[list[str]] = field(default_factory=list)  # card ids per reply
    request_ids: list[str] = field(default_factory=list)  # per reply that came
    violations: int = 0  # shown cards that break a constraint the shopper had already said
    errors: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.found is not None


@dataclass
class VariantOutcome:
    conversations: int = 0
    successes: int = 0
    abandoned: int = 0
    turns_to_success: list[int] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return self.successes / self.conversations if self.conversations else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        _, low, high = wilson(self.successes, self.conversations)
        return low, high

    @property
    def mean_turns(self) -> float | None:
        return sum(self.turns_to_success) / len(self.turns_to_success) if self.turns_to_success else None

    @property
    def abandonment_rate(self) -> float:
        return self.abandoned / self.conversations if self.conversations else 0.0

    def add(self, conversation: Conversation) -> None:
        self.conversations += 1
        if conversation.success:
            self.successes += 1
            self.turns_to_success.append(conversation.turns)
        else:
            self.abandoned += 1


@dataclass
class ConversationReport:
    conversations: list[Conversation] = field(default_factory=list)
    by_variant: dict[str, VariantOutcome] = field(default_factory=dict)
    overall: VariantOutcome = field(default_factory=VariantOutcome)
    seconds: float = 0.0

    def add(self, conversation: Conversation) -> None:
        self.conversations.append(conversation)
        self.by_variant.setdefault(conversation.variant, VariantOutcome()).add(conversation)
        self.overall.add(conversation)

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: {"conversations": o.conversations, "successes": o.successes, "success_rate": o.success_rate,
                       "interval": o.interval, "mean_turns": o.mean_turns, "abandonment_rate": o.abandonment_rate}
                for name, o in {**self.by_variant, "(all)": self.overall}.items()}  # fmt: skip


def simulate_conversations(client: ApiClient, shoppers: list[Shopper], plan: ConversationPlan) -> ConversationReport:
    """One conversation per shopper, in order, each in a new chat session."""
    rng = random.Random(plan.seed)
    report = ConversationReport()
    items: dict[str, dict[str, Any]] = {}  # item API answers, shared: the catalog does not change meanwhile
    started = time.perf_counter()
    for shopper in shoppers:
        report.add(converse(client, shopper, plan, rng, items))
    report.seconds = time.perf_counter() - started
    return report


def converse(client: ApiClient, shopper: Shopper, plan: ConversationPlan, rng: random.Random,
             items: dict[str, dict[str, Any]] | None = None) -> Conversation:  # fmt: skip
    """One shopper's conversation, until they find an item that meets their goal or give up."""
    items = {} if items is None else items
    talk = Conversation(shopper)
    session = client.chat_session_create(user_id=shopper.user_id)["session_id"]
    stated, unsaid = _opening(shopper.goal, plan, rng)
    message = say(stated, rng)
    seen: set[str] = set()
    idle = 0
    while talk.turns < plan.max_turns:
        reply = _send(client, session, message, plan, talk)
        cards = _record(talk, reply, plan)
        shown = {card: _item(client, card, items) for card in cards}
        talk.violations += sum(not c.met_by(item) for item in shown.values() for c in stated)
        found = next((card for card in cards[: plan.examine] if shopper.goal.met_by(shown[card])), None)
        if found is not None and reply is not None:
            talk.found, talk.ended = found, "found"
            _react(client, talk, reply, found, plan, rng)
            return talk
        idle, seen = (0 if set(cards) - seen else idle + 1), seen | set(cards)
        if idle >= plan.patience:
            talk.ended = "patience"
            return talk
        message = _next_message(shopper.goal, stated, unsaid, rng)
    talk.ended = "max_turns"
    return talk


def _opening(goal: Goal, plan: ConversationPlan, rng: random.Random) -> tuple[list[Constraint], list[Constraint]]:
    """What the first message says (what they want, maybe vaguer, and maybe more) and what it leaves."""
    what, *rest = goal.constraints
    rng.shuffle(rest)
    opening = rng.randint(0, max(0, len(rest) - 1))
    said, unsaid = [what, *rest[:opening]], rest[opening:]
    if what.broader and rng.random() < plan.vague:
        said[0] = Constraint("category", what.broader)
        unsaid.insert(0, what)
    return said, unsaid


def _record(talk: Conversation, reply: dict[str, Any] | None, plan: ConversationPlan) -> list[str]:
    cards = [card["item_id"] for card in (reply or {}).get("cards", [])]
    talk.shown.append(cards)
    if reply is not None:
        talk.request_ids.append(reply["request_id"])
        if plan.experiment and not talk.variant:
            talk.variant = reply.get("assignments", {}).get(plan.experiment, "")
    return cards


def _next_message(goal: Goal, stated: list[Constraint], unsaid: list[Constraint], rng: random.Random) -> str:
    """A constraint not said yet; once all are said, ask for others or restate the goal."""
    if unsaid:
        stated.append(unsaid.pop(0))
        templates = REFINE if stated[-1].facet in ("category", "tag") else REFINE_RANGE
        return rng.choice(templates).format(phrase(stated[-1], rng))
    if rng.random() < 0.5:
        return rng.choice(ELSE)
    return rng.choice(REPHRASE).format(say(list(goal.constraints), rng, greet=False))


def _send(client: ApiClient, session: str, message: str, plan: ConversationPlan,
          talk: Conversation) -> dict[str, Any] | None:  # fmt: skip
    """The agent's reply; None when it failed (the shopper sees nothing useful). A rate limit
    is waited out: it says nothing about the agent's answers."""
    talk.turns += 1
    talk.messages.append(message)
    for _ in range(plan.rate_limit_waits + 1):
        try:
            return client.chat_message(session_id=session, message=message)
        except ApiError as exc:
            wait = _retry_after(str(exc))
            if wait is None:
                talk.errors.append(str(exc))
                return None
            time.sleep(wait)
    talk.errors.append("rate limited")
    return None


def _retry_after(error: str) -> float | None:
    if not re.search(r": 429 ", error):
        return None
    found = re.search(r'"retry_after_s":\s*(\d+(?:\.\d+)?)', error)
    return min(float(found.group(1)), 60.0) if found else 5.0


def _item(client: ApiClient, item_id: str, items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if item_id not in items:
        items[item_id] = client.item(item_id)
    return items[item_id]


def _react(client: ApiClient, talk: Conversation, reply: dict[str, Any], item_id: str, plan: ConversationPlan,
           rng: random.Random) -> None:  # fmt: skip
    """Click the found item, maybe buy it, with the turn's request id (a known user only)."""
    user = talk.shopper.user_id
    if user is None or not reply.get("request_id"):
        return
    kinds = ["click", "purchase"] if rng.random() < plan.purchase else ["click"]
    rows = [{"user_id": user, "item_id": item_id, "type": kind, "request_id": reply["request_id"],
             "timestamp": datetime.now(UTC).isoformat(), "surface": "chat"} for kind in kinds]  # fmt: skip
    client.events(rows)
    talk.sent += rows
