"""One chat turn: read the message, decide what to do, call tools, show items, reply.

The small local model routes (constrained JSON: intent and slots) and phrases the reply;
everything that decides which items are shown is deterministic and checked:
- prices, categories and decades written in the message are parsed here and win over the
  model's slots; a category the model names that the catalog lacks is dropped;
- a request to ignore instructions or reveal the prompt is refused without a model call;
- tools return item ids into the session's candidate store; cards are drawn from a tool's
  result, re-checked against the hard constraints on catalog facts;
- the model's reply is kept only if every name and number in it comes from the message or
  the cards; otherwise a sentence made of the cards replaces it.
A turn makes at most MAX_STEPS tool calls and two model calls, each with its token limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from agents import tools
from agents.models import ChatSession, ChatTurn, SessionItem
from agents.parsing import Parsed, parse_message
from agents.tools import Card, Constraints
from recsys_app.catalog.models import EndUser
from recsys_app.catalog.selectors import top_categories
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.tracing import trace_span, trace_subject
from recsys_app.safety.grounding import unsupported_claim
from recsys_app.safety.guardrails import Checked, failed, guard_output, guard_text

MAX_MESSAGE = 2000
CARDS = 5
MAX_STEPS = 3
ROUTER_PROMPT, REPLY_PROMPT = "agent_router", "agent_reply"
INTENTS = ("search", "recommend", "similar", "details", "compare", "clarify", "off_topic")  # the router's
REFUSAL = (
    "I can only help you find items in this catalog, and my instructions stay as they are. What are you looking for?"
)
TOXIC = "I can't help with that message. Tell me what you'd like to watch or buy, and I'll look."
OFF_TOPIC = "I can only help with finding items in this catalog. What would you like to watch or buy?"
CLARIFY = "What are you in the mood for? Tell me a genre, a price range, or a title you liked."
NO_MATCH = (
    "I couldn't find anything like that in this catalog. I can help with what it offers: tell me a genre or a title."
)
KEYWORDS = [
    ("history", re.compile(r"\b(?:my history|what (?:did|have) i (?:watch|like|buy|rate)\w*|i liked before)\b", re.I)),
    ("collections", re.compile(r"\b(?:collections?|curated|editor'?s picks?|featured)\b", re.I)),
    ("compare", re.compile(r"\b(?:compare|versus|vs\.?|which is better|better,)\b", re.I)),
    # "like Heat", "similar to Alien": a title follows; "I'd like a comedy" is not a similarity request.
    ("similar", re.compile(r"(?i:\b(?:similar to|more like)\b)|\blike\s+(?=[A-Z0-9\"'])")),
    ("details", re.compile(r"\b(?:tell me about|what is|details (?:of|on|about))\b", re.I)),
    ("recommend", re.compile(r"\b(?:recommend|suggest|surprise me|for me)\b", re.I)),
]
TokenCallback = Callable[[str], None]


class ChatError(ValueError):
    """A message the agent does not take (too long); the text says what and where."""


@dataclass
class Outcome:
    intent: str
    reply: str
    constraints: Constraints = field(default_factory=Constraints)
    cards: list[Card] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


def session_start(*, end_user: EndUser | None = None, operator: Any = None, token: Any = None) -> ChatSession:
    """A new session; a consenting user's last stated preferences carry over from their last
    session with the same client application (another application never reads them)."""
    memory: dict[str, Any] = {}
    if end_user is not None and end_user.consent_personalization:
        same_client = {"token_id__in": token.client_ids} if token is not None else {"token__isnull": True}
        last = ChatSession.objects.filter(end_user=end_user, **same_client).order_by("-updated_at").first()
        if last is not None and last.memory.get("constraints"):
            memory["constraints"] = {k: v for k, v in last.memory["constraints"].items() if k != "query"}
    return ChatSession.objects.create(end_user=end_user, operator=operator, token=token, memory=memory)


def turn_run(
    *,
    session: ChatSession,
    message: str,
    on_token: TokenCallback | None = None,
    attributes: dict[str, Any] | None = None,
) -> ChatTurn:
    """Answer one message; the turn is stored with its trace tree. `attributes` are hard
    filters the client holds (e.g. {"color": "red"}); they stay until replaced or reset."""
    message = message.strip()
    if len(message) > MAX_MESSAGE:
        raise ChatError(f"message: {len(message)} characters; at most {MAX_MESSAGE}")
    started = time.perf_counter()
    number = session.turns.count() + 1
    checked = guard_text(message)  # personal data is redacted before any model, trace or row sees it
    message = checked.value
    subject = session.end_user.external_id if session.end_user is not None else ""
    with trace_subject(subject), trace_span(f"agent turn {number}", session=str(session.pk),
                                            message=message[:200]) as span:  # fmt: skip
        span.guardrails = checked.verdicts
        outcome = _refused(checked) or _respond(session, message, number, on_token, attributes)
        span.output = outcome.reply
        span.parsed = {"intent": outcome.intent, "cards": [card.external_id for card in outcome.cards]}
    with transaction.atomic():
        turn = ChatTurn.objects.create(
            session=session, number=number, message=message, intent=outcome.intent,
            constraints=outcome.constraints.as_json(), reply=outcome.reply,
            cards=[card.public() for card in outcome.cards], steps=outcome.steps, trace=span,
            latency_ms=(time.perf_counter() - started) * 1000,
        )  # fmt: skip
        session.memory = {**session.memory, "constraints": outcome.constraints.as_json()}
        session.save(update_fields=["memory", "updated_at"])
    return turn


def _refused(checked: Checked) -> Outcome | None:
    """An attempt to override the agent, or a toxic message, is answered without any model."""
    if failed(checked.verdicts, ("injection",)):
        return Outcome("refused", REFUSAL)
    if checked.blocked:
        return Outcome("refused", TOXIC)
    return None


def _respond(
    session: ChatSession, message: str, number: int, on_token: TokenCallback | None, attributes: dict[str, Any] | None
) -> Outcome:
    if not message:
        return Outcome("clarify", CLARIFY)
    parsed = parse_message(message, top_categories())
    remembered = Constraints() if parsed.reset else Constraints.from_json(session.memory.get("constraints", {}))
    routed = _route(message)
    intent = _intent(routed, parsed, message)
    constraints = _constraints(remembered, routed, parsed, message, intent)
    constraints.attributes = attributes if attributes is not None else remembered.attributes
    if intent == "off_topic":
        return Outcome(intent, OFF_TOPIC, remembered)
    if intent == "clarify" or (intent == "search" and not _stated(constraints)):
        return Outcome("clarify", CLARIFY, constraints)
    steps: list[dict[str, Any]] = []
    ids = _call_tools(intent, constraints, message, session, steps)
    _store(session, steps, number)
    if intent == "search" and not ids and not _filtered(constraints):
        return Outcome("no_match", NO_MATCH, constraints, [], steps)
    explicit = intent in ("details", "compare", "history")
    found = tools.cards_of(ids)
    cards = [found[i] for i in ids if i in found and (explicit or tools.satisfies(found[i], constraints))][:CARDS]
    return Outcome(intent, _reply(message, cards, constraints, on_token), constraints, cards, steps)


def _route(message: str) -> dict[str, Any] | None:
    """The model's reading of the message (intent and slots), or None when it gave none."""
    try:
        answer = llm_complete(prompt=ROUTER_PROMPT, variables={"message": message}).parsed
    except LLMError:
        return None
    return answer if isinstance(answer, dict) and answer.get("intent") in INTENTS else None


def _intent(routed: dict[str, Any] | None, parsed: Parsed, message: str) -> str:
    """Explicit words decide first; then the model; then what the message states."""
    for intent, pattern in KEYWORDS:
        if pattern.search(message):
            return intent
    stated = bool(parsed.categories or parsed.price_max or parsed.price_min or parsed.decade)
    short = len(message.split()) < 3  # "hmm", "ok": too little to call off-topic
    model = routed["intent"] if routed is not None else None
    if model in ("similar", "details", "compare"):
        model = "search"  # these need the words above; without them the small model guessed
    if model is not None and not (model in ("off_topic", "clarify") and (stated or short)):
        return str(model)
    return "search" if stated or not short else "clarify"


def _constraints(
    remembered: Constraints, routed: dict[str, Any] | None, parsed: Parsed, message: str, intent: str
) -> Constraints:
    """This turn's constraints: what the message states, else the model's slots (if real),
    else what the session remembered."""
    known = {name.lower(): name for name in top_categories()}
    model_category = known.get(str((routed or {}).get("category") or "").lower())
    category = parsed.categories[0] if parsed.categories else model_category or remembered.category
    query = str((routed or {}).get("query") or "").strip() or message
    return Constraints(
        query=query[:200] if intent in ("search", "similar", "details", "compare") else remembered.query,
        category=category,
        price_min=parsed.price_min if parsed.price_min is not None else remembered.price_min,
        price_max=parsed.price_max if parsed.price_max is not None else remembered.price_max,
        decade=parsed.decade or remembered.decade,
    )


def _filtered(constraints: Constraints) -> bool:
    return bool(constraints.category or constraints.price_max or constraints.price_min or constraints.decade
                or constraints.attributes)  # fmt: skip


def _stated(constraints: Constraints) -> bool:
    return any(value is not None for value in vars(constraints).values())


def _call_tools(
    intent: str, constraints: Constraints, message: str, session: ChatSession, steps: list[dict[str, Any]]
) -> list[int]:
    user = session.end_user

    def call(name: str, run: Callable[[], list[int]], **arguments: Any) -> list[int]:
        if len(steps) >= MAX_STEPS:
            return []
        with trace_span(f"tool {name}", arguments={k: str(v) for k, v in arguments.items()}) as span:
            ids = run()
            span.parsed = {"items": ids[:50]}  # the tool's result, saved with the span
        steps.append({"tool": name, "arguments": {k: str(v) for k, v in arguments.items()}, "items": ids[:50]})
        return ids

    if intent == "recommend":
        return call("recommend", lambda: tools.recommend(user, constraints), **constraints.as_json())
    if intent == "history":
        return call("history", lambda: tools.history(user), user=user.external_id if user else None)
    if intent == "collections":
        return call("collections", tools.collections)
    if intent in ("similar", "details", "compare"):
        return _about_titles(intent, constraints, message, user, call)
    ids = call("search", lambda: tools.search(constraints), **constraints.as_json())
    if not [i for i in ids if i] and constraints.query and constraints.category:
        wider = Constraints(
            None, constraints.category, constraints.price_min, constraints.price_max, constraints.decade
        )
        ids = call("search", lambda: tools.search(wider), **wider.as_json())
    return ids


def _about_titles(intent: str, constraints: Constraints, message: str, user: EndUser | None, call: Any) -> list[int]:
    """Items the message names ('like Heat', 'compare Heat or Casino'), found by search."""
    text = constraints.query or message
    parts = re.split(r"\s+(?:or|vs\.?|versus|and)\s+|,", text) if intent == "compare" else [text]
    named = [item for part in parts[:2] if (item := call("find_title", lambda p=part: _one(p), text=part))]
    seeds = [ids[0] for ids in named]
    if intent != "similar" or not seeds:
        return seeds
    seed = tools.cards_of(seeds[:1]).get(seeds[0])
    external = seed.external_id if seed is not None else None
    return call("similar", lambda: tools.similar(external, user, constraints), item=external) if external else []


def _one(text: str) -> list[int]:
    found = tools.find_title(re.sub(r"\b(?:like|similar to|more like|tell me about|compare)\b", " ", text, flags=re.I))
    return [found] if found is not None else []


def _store(session: ChatSession, steps: list[dict[str, Any]], number: int) -> None:
    """Every item a tool returned joins the session's candidate store."""
    rows = [
        SessionItem(session=session, item_id=i, tool=step["tool"], turn=number) for step in steps for i in step["items"]
    ]
    SessionItem.objects.bulk_create(rows, ignore_conflicts=True)


def _reply(message: str, cards: list[Card], constraints: Constraints, on_token: TokenCallback | None) -> str:
    """The model's reply if it holds up, else a sentence made of the cards. Streamed, it passes
    through a `ReplyGate`: the client sees a sentence only once it passed every check, and the
    stored reply is exactly what the client saw."""
    fallback = template_reply(cards, constraints)
    if not cards:
        if on_token:
            on_token(fallback)
        return fallback
    stated = _message_facts(f"{message} {constraints.as_json()}")  # the query repeats the message
    allowed = " ".join([stated, *(c.title for c in cards), *(c.category for c in cards)])
    gate = ReplyGate(on_token, allowed) if on_token is not None else None
    try:
        completion = llm_complete(prompt=REPLY_PROMPT, variables={"message": message, "items": [
            {"title": card.title} for card in cards]}, on_token=gate)  # fmt: skip
    except LLMError:
        # The whole answer failed a check: the `done` event carries the fallback, which replaces
        # the sentences already shown (each of which passed every check on its own).
        return gate.settle(fallback, failed=True) if gate is not None else fallback
    if gate is not None:
        gate.finish()
        return gate.settle(fallback)
    text = completion.text.strip()
    return text if text and reply_problem(text, allowed) is None else fallback


_CAPITALISED = re.compile(r"\b[A-Z][\w'-]+")


def _message_facts(message: str) -> str:
    """What a reply may take from the user's message: its words and numbers, but a name only if
    the catalog has it, so a message (or an injection in it) cannot make the reply name a title
    that does not exist."""
    names = _CAPITALISED.findall(message)
    real = tools.catalog_names(names)
    return _CAPITALISED.sub(lambda m: m.group(0) if m.group(0) in real else " ", message)


PROMPT_ECHO = re.compile(
    r"(?im)^\s*(?:shopper|found|user|assistant|system|human|ai|bot)\s*:|\b(?:shopper|found):|you are a helpful|"
    r"mention only the items|</?\s*data\s*>|<\|[a-z_]+\|>|\[/?inst\]|#{2,}\s*(?:instruction|response|system)"
)
_SENTENCE = re.compile(r".+?(?:[.!?](?=\s)|\n|$)", re.S)


def echoes_prompt(text: str) -> bool:
    """A small model sometimes repeats its prompt (role labels, delimiters, instructions)."""
    return bool(PROMPT_ECHO.search(text))


def reply_problem(text: str, allowed: str) -> str | None:
    """Why a reply (or one sentence of it) may not be shown: prompt text, or a name or number
    that neither the message nor the cards hold (an invented title, a made-up price)."""
    if echoes_prompt(text):
        return "repeats the prompt's scaffolding"
    claim = unsupported_claim(text, allowed)
    return f"names '{claim}', which is not on the cards" if claim else None


class ReplyGate:
    """Between the model's stream and the client: holds text until a sentence is complete,
    checks it (`reply_problem`; the gateway's output guardrails already ran on it), and passes
    it on only if it holds. The first sentence that fails ends what the client is sent; the
    reply is then the sentences already shown, or the fallback when none were."""

    def __init__(self, emit: TokenCallback | None, allowed: str) -> None:
        self.emit, self.allowed = emit, allowed
        self.pending, self.shown, self.stopped = "", "", False

    def __call__(self, text: str) -> None:
        if self.stopped:
            return
        self.pending += text
        while not self.stopped and (match := _SENTENCE.match(self.pending)) and match.end() < len(self.pending):
            self.pending = self.pending[match.end():]
            self._pass(match.group(0))

    def finish(self) -> None:
        rest, self.pending = self.pending, ""
        if rest.strip() and not self.stopped:
            self._pass(rest)

    def _pass(self, sentence: str) -> None:
        if not sentence.strip():
            return
        checked = guard_output(sentence, None, context=self.allowed)  # whole sentences: redaction sees "a.b@c.com"
        if checked.blocked or reply_problem(checked.value[0], self.allowed) is not None:
            self.stopped = True
            return
        self.shown += checked.value[0]
        if self.emit is not None:
            self.emit(checked.value[0])

    def settle(self, fallback: str, *, failed: bool = False) -> str:
        """The reply to store: what was shown, or the fallback (sent now) when nothing was or the
        whole answer failed."""
        if self.shown.strip() and not failed:
            return self.shown.strip()
        if self.emit is not None and not self.shown.strip():
            self.emit(fallback)
        return fallback


def template_reply(cards: list[Card], constraints: Constraints) -> str:
    what = " ".join(part for part in [constraints.category or "", "items"] if part)
    if constraints.price_max is not None:
        what += f" up to {constraints.price_max}"
    if constraints.decade:
        what += f" from the {constraints.decade}s"
    if not cards:
        return f"I couldn't find {what} in the catalog. Try another category or a wider price range."
    titles = "; ".join(card.title for card in cards)
    return f"Here {'is' if len(cards) == 1 else 'are'} {len(cards)} {what}: {titles}."
