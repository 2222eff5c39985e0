"""One chat turn: read the message, decide what to do, call tools, show items, reply.

What decides which items are shown is deterministic and checked on catalog facts:
- the message is read into constraints over the catalog's own facets
  (`understanding.read`): values to include and exclude, ranges, refinements of what was
  shown; the small local model may propose a value only when the parser found none, and only
  one the catalog has;
- `topic.classify` tells a request for items from a question about the world and from a
  request for harm, by the message's form, not by whether it contains a category word;
- hard constraints live for one session; across sessions only soft preferences carry over
  (with consent): they reorder, never filter, and the reply says when they were used;
- a vague request gets a question about the facet that best splits the candidates, with
  counts; an empty result names the constraint that emptied it and offers the closest
  relaxation ("yes" takes it);
- tools return item ids into the session's candidate store; cards are drawn from a tool's
  result, re-checked against every constraint (`tools.satisfies`);
- the model's reply is kept only if it passes the output checks, names nothing that is not on
  the cards or in the message, and does not repeat itself; otherwise a sentence made of the
  cards replaces it, and the turn says which (`ChatTurn.reply_source`).
A turn makes at most MAX_STEPS tool calls and two model calls, each with its token limit.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.db import transaction

from agents import tools
from agents.lexicon import RECENT_YEARS
from agents.models import ChatSession, ChatTurn, SessionItem
from agents.tools import Card, Constraints, Split, Value
from agents.topic import classify, is_affirmative
from agents.understanding import Reading, Vocabulary, read, vocabulary_of
from recsys_app.catalog.facets import facets_current
from recsys_app.catalog.models import EndUser, Facet
from recsys_app.lib.local_cache import LocalCache
from recsys_app.lib.traffic import is_simulated, simulated_traffic
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import Trace
from recsys_app.llmops.pinning import generation_pinned
from recsys_app.llmops.tracing import trace_span, trace_subject
from recsys_app.ranking.experiments import exposures_log, pins_of
from recsys_app.ranking.serving import RecommendationResponse, RecommendedItem, impressions_log
from recsys_app.ranking.surfaces import experiment_assignments
from recsys_app.retrieval.sources import Range
from recsys_app.safety.grounding import unsupported_claim
from recsys_app.safety.guardrails import Checked, failed, guard_output, guard_text

MAX_MESSAGE = 2000
CARDS = 5
MAX_STEPS = 3
MAX_PREFERENCES = 12
BOOSTED = 2  # carried preferences move at most this many items to the top
ROUTER_PROMPT, REPLY_PROMPT = "agent_router", "agent_reply"
CHAT_SURFACE = "chat"  # experiments on the agent name this surface
INTENTS = ("search", "recommend", "similar", "details", "compare", "clarify", "off_topic")  # the router's
REFUSAL = (
    "I can only help you find items in this catalog, and my instructions stay as they are. What are you looking for?"
)
TOXIC = "I can't help with that message. Tell me what you'd like to watch or buy, and I'll look."
HARMFUL = "I can't help with that. If you'd like, I can help you find something in this catalog instead."
OFF_TOPIC = "I can only help with finding items in this catalog. What would you like to watch or buy?"
CLARIFY = "What are you in the mood for? Tell me a genre, a price range, or a title you liked."
NO_MATCH = (
    "I couldn't find anything like that in this catalog. I can help with what it offers: tell me a genre or a title."
)
KEYWORDS = [
    ("history", re.compile(r"\b(?:my history|what (?:did|have) i (?:watch|like|buy|rate)\w*|i liked before)\b", re.I)),
    ("collections", re.compile(r"\b(?:collections?|curated|editor'?s picks?|featured)\b", re.I)),
    ("compare", re.compile(r"\b(?:compare|versus|vs\.?|which is better)\b", re.I)),
    # "like Heat", "similar to Alien": a title follows; "I'd like a comedy" is not a similarity request.
    ("similar", re.compile(r"(?i:\b(?:similar to|more like)\b)|\blike\s+(?=[A-Z0-9\"'])")),
    ("details", re.compile(r"\b(?:tell me about|details (?:of|on|about))\b", re.I)),
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
    source: str = "template"  # who phrased the reply: "model" or "template"
    offer: dict[str, Any] | None = None  # a relaxation the user may accept next turn
    note: str = ""  # said before the reply (soft preferences used)
    follow: str = ""  # said after it (a question that would narrow a mixed result)


_vocabulary: LocalCache[Vocabulary] = LocalCache(ttl=300.0)


def current_vocabulary() -> Vocabulary:
    return _vocabulary.get("all", lambda: vocabulary_of(facets_current()))


def session_start(*, end_user: EndUser | None = None, operator: Any = None, token: Any = None) -> ChatSession:
    """A new session. Hard constraints never carry over; a consenting user's soft preferences
    (values they asked for or turned down before, with the same client application) do, and
    only ever reorder results."""
    memory: dict[str, Any] = {}
    if end_user is not None and end_user.consent_personalization:
        same_client = {"token_id__in": token.client_ids} if token is not None else {"token__isnull": True}
        last = ChatSession.objects.filter(end_user=end_user, **same_client).order_by("-updated_at").first()
        if last is not None:
            carried = {**last.memory.get("carried", {}), **last.memory.get("preferences", {})}
            if carried:
                memory["carried"] = dict(sorted(carried.items(), key=lambda kv: -abs(kv[1]))[:MAX_PREFERENCES])
                known = {**last.memory.get("carried_values", {}), **last.memory.get("values", {})}
                memory["carried_values"] = {label: known[label] for label in memory["carried"] if label in known}
    return ChatSession.objects.create(end_user=end_user, operator=operator, token=token, memory=memory,
                                      simulated=is_simulated())  # fmt: skip


def turn_run(
    *,
    session: ChatSession,
    message: str,
    on_token: TokenCallback | None = None,
    attributes: dict[str, Any] | None = None,
    live: bool = True,
) -> ChatTurn:
    """Answer one message; the turn is stored with its trace tree. `attributes` are hard
    filters the client holds (e.g. {"color": "red"}); they stay until replaced or reset.
    Evaluations pass `live=False`: they are in no experiment and their cards are not traffic."""
    message = message.strip()
    if len(message) > MAX_MESSAGE:
        raise ChatError(f"message: {len(message)} characters; at most {MAX_MESSAGE}")
    started = time.perf_counter()
    number = session.turns.count() + 1
    checked = guard_text(message)  # personal data is redacted before any model, trace or row sees it
    message = checked.value
    subject = session.end_user.external_id if session.end_user is not None else ""
    # Experiments on 'chat' may pin the agent's prompts or switch its model-written words off.
    assignments = (experiment_assignments(CHAT_SURFACE, user_external_id=subject or None, session_id=str(session.pk))
                   if live else [])  # fmt: skip
    named = {a.experiment: a.variant for a in assignments}
    words = all(a.spec.generated.get("agent", True) for a in assignments)
    with trace_subject(subject), generation_pinned(pins_of(assignments), named), trace_span(
            f"agent turn {number}", session=str(session.pk), message=message[:200]) as span:  # fmt: skip
        span.guardrails = checked.verdicts
        outcome = _refused(checked, message) or _respond(session, message, number, on_token, attributes,
                                                         polite=checked.blocked is not None or not words)  # fmt: skip
        outcome.reply = " ".join(part for part in (outcome.note, outcome.reply, outcome.follow) if part)
        if outcome.source == "model" and (outcome.note or outcome.follow):
            outcome.source = "mixed"  # the model's sentence between catalog-made ones
        span.output = outcome.reply
        span.parsed = {"intent": outcome.intent, "cards": [card.external_id for card in outcome.cards],
                       "reply_source": outcome.source}  # fmt: skip
    with transaction.atomic():
        turn = ChatTurn.objects.create(
            session=session, number=number, message=message, intent=outcome.intent,
            constraints=outcome.constraints.as_json(), reply=outcome.reply, reply_source=outcome.source,
            cards=[card.public() for card in outcome.cards], steps=outcome.steps, trace=span,
            latency_ms=(time.perf_counter() - started) * 1000, assignments=named,
        )  # fmt: skip
        session.memory = _remember(session.memory, outcome)
        session.save(update_fields=["memory", "updated_at"])
        # A streamed turn runs after the request's middleware returned: the session says if it is simulated.
        with simulated_traffic(session.simulated or is_simulated()):
            if live:
                exposures_log(assignments, surface=CHAT_SURFACE)
                _cards_log(turn, session, outcome.cards)
    return turn


def turn_provenance(turn: ChatTurn) -> dict[str, Any] | None:
    """The reply call under the turn's trace, if its words are the ones shown."""
    call = (Trace.objects.filter(root_id=turn.trace_id, name=REPLY_PROMPT, kind=Trace.Kind.LLM, status="ok")
            .select_related("prompt_version").first()) if turn.trace_id else None  # fmt: skip
    # The turn records who phrased the reply (a streamed one may be the model's first sentences).
    if call is None or turn.reply_source not in ("model", "mixed"):
        return None
    version = call.prompt_version.number if call.prompt_version else None
    return {"model": call.model, "prompt": REPLY_PROMPT, "prompt_version": version}


def _cards_log(turn: ChatTurn, session: ChatSession, cards: list[Card]) -> None:
    """The cards as impressions on 'chat' under the turn's request id, with the reply's
    provenance when a model wrote the words shown beside them."""
    if not cards:
        return
    written = turn_provenance(turn)
    items = [RecommendedItem(card.item_id, card.external_id, card.title, 0.0, ["agent"],
                             {"code": "chat", "source": "agent"}, provenance={"reply": written} if written else None)
             for card in cards]  # fmt: skip
    first = next(iter(turn.assignments.items()), ("", ""))
    response = RecommendationResponse(turn.request_id, turn.request_id, CHAT_SURFACE, turn.number, items, [],
                                      experiment=first[0], variant=first[1], assignments=turn.assignments,
                                      latency_ms=turn.latency_ms, session_id=str(session.pk))  # fmt: skip
    user = session.end_user
    impressions_log(response, user, user.external_id if user is not None else None)


def _remember(memory: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The session's state after a turn: its hard constraints, what was shown, an open offer,
    and the soft preferences this session adds (values asked for count up, refused ones down)."""
    preferences = dict(memory.get("preferences", {}))
    for group in outcome.constraints.include:
        for value in group:
            preferences[value.label] = min(3, preferences.get(value.label, 0) + 1)
    for value in outcome.constraints.exclude:
        preferences[value.label] = max(-3, preferences.get(value.label, 0) - 1)
    shown = [card.external_id for card in outcome.cards] or memory.get("shown", [])
    return {**memory, "constraints": outcome.constraints.as_json(), "shown": shown,
            "offer": outcome.offer, "preferences": dict(list(preferences.items())[-MAX_PREFERENCES:]),
            "values": _values_json(outcome.constraints, memory.get("values", {}))}  # fmt: skip


def _values_json(constraints: Constraints, known: dict[str, Any]) -> dict[str, Any]:
    """Label -> terms for every value named in the session, so preferences can be checked later."""
    values = dict(known)
    for value in [v for group in constraints.include for v in group] + constraints.exclude:
        values[value.label] = value.as_json()
    return dict(list(values.items())[-50:])


def _refused(checked: Checked, message: str) -> Outcome | None:
    """An attempt to override the agent, or a threat or hate, is answered without any model. A
    rude message that still asks for items is served (the insult is not repeated to any model)."""
    if failed(checked.verdicts, ("injection",)):
        return Outcome("refused", REFUSAL)
    if checked.blocked:
        toxic = failed(checked.verdicts, ("toxicity",))
        rude_only = toxic and all((v.get("score") or 0) < 1.0 for v in toxic) and checked.blocked.startswith("toxicity")
        reading = read(message, current_vocabulary())
        if not (rude_only and classify(message, reading) == "catalog" and reading.constrains):
            return Outcome("refused", TOXIC)
    return None


def _respond(
    session: ChatSession, message: str, number: int, on_token: TokenCallback | None,
    attributes: dict[str, Any] | None, *, polite: bool = False,
) -> Outcome:  # fmt: skip
    if not message:
        return Outcome("clarify", CLARIFY)
    vocabulary = current_vocabulary()
    reading = read(message, vocabulary)
    memory = session.memory
    remembered = Constraints.from_json(memory.get("constraints", {}))
    if memory.get("offer") and is_affirmative(message) and not reading.constrains:
        return _serve(session, "search", Constraints.from_json(memory["offer"]), message, number, on_token,
                      vocabulary, polite=polite)  # fmt: skip
    kind = classify(message, reading)
    if kind == "harmful":
        return Outcome("refused", HARMFUL, remembered)
    intent = _keyword_intent(message, reading)
    if kind == "off_topic" and intent is None:
        return Outcome("off_topic", OFF_TOPIC, remembered)
    base = Constraints(attributes=remembered.attributes) if reading.reset else remembered
    if not reading.constrains and not reading.refine and kind != "vague" and reading.query:
        _propose(message, reading, vocabulary)  # the model may name a value the parser missed
    shown = _shown_cards(memory)
    constraints = merge(base, reading, vocabulary, shown=shown)
    if attributes is not None:
        constraints.attributes = attributes
    personal = session.end_user is not None and session.end_user.consent_personalization
    if not constraints.stated() and (
        (intent is None and kind == "vague") or (intent == "recommend" and not personal and not reading.query)
    ):
        # Nothing to go on (and, for "what do you recommend?", no history to go on either): ask.
        return _clarify(constraints, vocabulary)
    if reading.reset and not reading.constrains and intent is None:
        return replace(_clarify(constraints, vocabulary), intent="clarify")
    return _serve(session, intent or "search", constraints, message, number, on_token, vocabulary, reading=reading,
                  polite=polite, shown=shown)  # fmt: skip


def _keyword_intent(message: str, reading: Reading) -> str | None:
    if reading.refine == "like":
        return "similar"
    for intent, pattern in KEYWORDS:
        if pattern.search(message):
            return intent
    return None


def _shown_cards(memory: dict[str, Any]) -> list[Card]:
    return tools.cards_in_order(memory.get("shown", []))


def merge(base: Constraints, reading: Reading, vocabulary: Vocabulary, *, shown: list[Card]) -> Constraints:
    """This turn's constraints: the session's, updated by what the message states. New values
    replace the old ones unless the message adds ("also", "too") or only excludes; an excluded
    value leaves the includes; a range on a facet already bounded narrows it when it adds the
    other side, else replaces it; refinements bound by what was shown."""
    include = [[Value(label.text, label.terms) for label in group] for group in reading.include]
    exclude = [Value(label.text, label.terms) for label in reading.exclude]
    merged = Constraints(
        query=reading.query or (base.query if not reading.constrains else None),
        include=[*base.include, *include] if (reading.also or not include) else include,
        exclude=list(dict.fromkeys([*base.exclude, *exclude])),
        ranges=_merge_ranges(base.ranges, reading.ranges),
        attributes=base.attributes,
        rejected=list(base.rejected),
    )
    merged.exclude = [v for v in merged.exclude if v.label not in {x.label for group in include for x in group}]
    merged.include = [[v for v in group if v.label not in {x.label for x in exclude}] for group in merged.include]
    merged.include = [group for group in merged.include if group]
    return _refine(merged, reading, vocabulary, shown)


def _merge_ranges(old: list[Range], new: list[Range]) -> list[Range]:
    ranges = {r.facet: r for r in old}
    for bounds in new:
        before = ranges.get(bounds.facet)
        one_sided = (bounds.low is None) != (bounds.high is None)
        if before is not None and one_sided and ((bounds.low is None) != (before.high is None) or
                                                 (before.low is None) != (before.high is None)):  # fmt: skip
            bounds = Range(bounds.facet,
                           bounds.low if bounds.low is not None else before.low,
                           bounds.high if bounds.high is not None else before.high,
                           bounds.low_inclusive if bounds.low is not None else before.low_inclusive,
                           bounds.high_inclusive if bounds.high is not None else before.high_inclusive)  # fmt: skip
        ranges[bounds.facet] = bounds
    return list(ranges.values())


def _refine(constraints: Constraints, reading: Reading, vocabulary: Vocabulary, shown: list[Card]) -> Constraints:
    """'cheaper', 'older', 'newer' bound the facet by the cards shown last; 'not the first one'
    rejects that card; 'something else' rejects everything shown."""
    refine = reading.refine
    if refine == "newer" and not shown and vocabulary.year_facet:  # "the newer ones" with nothing shown: recent
        newest = vocabulary.numbers[vocabulary.year_facet][1]
        constraints.ranges = _merge_ranges(constraints.ranges, [Range(vocabulary.year_facet,
                                           low=Decimal(int(newest) - RECENT_YEARS))])  # fmt: skip
    if refine is None or not shown:
        return constraints
    if refine == "reject":
        index = (reading.ordinal or 1) - 1 if (reading.ordinal or 1) > 0 else len(shown) - 1
        if 0 <= index < len(shown):
            constraints.rejected = list(dict.fromkeys([*constraints.rejected, shown[index].external_id]))
    elif refine == "else":
        constraints.rejected = list(dict.fromkeys([*constraints.rejected, *(c.external_id for c in shown)]))
    elif refine in ("cheaper", "pricier"):
        _bound_by_shown(constraints, "price", shown, lower=refine == "cheaper")
    elif refine in ("older", "newer") and vocabulary.year_facet:
        _bound_by_shown(constraints, vocabulary.year_facet, shown, lower=refine == "older")
    return constraints


def _bound_by_shown(constraints: Constraints, facet: str, shown: list[Card], *, lower: bool) -> None:
    values = [v for v in (tools.number_of(card, facet) for card in shown) if v is not None]
    if not values:
        return
    others = [r for r in constraints.ranges if r.facet != facet]
    current = next((r for r in constraints.ranges if r.facet == facet), Range(facet))
    if lower:
        bounds = Range(facet, current.low, min(values), current.low_inclusive, False)
    else:
        bounds = Range(facet, max(values), current.high, False, current.high_inclusive)
    constraints.ranges = [*others, bounds]


def _propose(message: str, reading: Reading, vocabulary: Vocabulary) -> None:
    """The model's reading of a message the parser found no value in: a value it names counts
    only if the catalog has it."""
    routed = _route(message)
    label = vocabulary.find(str((routed or {}).get("category") or "").lower().strip())
    if label is not None:
        reading.include.append([label])


def _route(message: str) -> dict[str, Any] | None:
    try:
        answer = llm_complete(prompt=ROUTER_PROMPT, variables={"message": message}).parsed
    except LLMError:
        return None
    return answer if isinstance(answer, dict) and answer.get("intent") in INTENTS else None


# --- Clarifying and relaxing ----------------------------------------------------------------


def _clarify(constraints: Constraints, vocabulary: Vocabulary) -> Outcome:
    """A question about the facet that best splits what matches so far, with its top values and
    their counts."""
    split = best_split(constraints)
    if split is None:
        return Outcome("clarify", CLARIFY, constraints)
    offered = ", ".join(f"{value} ({count:,})" for value, count in split.values[:4])
    name = {"category": "category", "tag": "kind"}.get(split.source, split.facet)
    extra = " You can also give a year or a range." if vocabulary.year_facet else ""
    if "price" in vocabulary.numbers:
        extra = " You can also give a price range."
    return Outcome("clarify", f"Which {name} would you like? The most common are {offered}.{extra}", constraints)


def best_split(constraints: Constraints) -> Split | None:
    facets = [(f.name, f.source) for f in facets_current() if f.value_type == Facet.ValueType.TEXT]
    splits = tools.facet_splits(constraints, facets)
    return max(splits, key=_evenness, default=None)


def _evenness(split: Split) -> float:
    """How well the facet divides the items: entropy of its top values, times the share of
    items they cover."""
    counts = [n for _, n in split.values[:6]]
    whole = sum(counts)
    entropy = -sum(n / whole * math.log(n / whole) for n in counts if n)
    return entropy * min(1.0, whole / max(split.total, 1))


def _relaxation(constraints: Constraints) -> tuple[str, Constraints | None, int]:
    """The constraint whose removal brings back the most items: (what it was, the relaxed
    constraints, how many items then match)."""
    options: list[tuple[str, Constraints]] = []
    for i, group in enumerate(constraints.include):
        rest = [g for j, g in enumerate(constraints.include) if j != i]
        options.append((" or ".join(v.label for v in group), replace(constraints, include=rest)))
    for i, value in enumerate(constraints.exclude):
        rest_x = [v for j, v in enumerate(constraints.exclude) if j != i]
        options.append((f"not {value.label}", replace(constraints, exclude=rest_x)))
    for i, bounds in enumerate(constraints.ranges):
        rest_r = [r for j, r in enumerate(constraints.ranges) if j != i]
        options.append((tools.range_text(bounds), replace(constraints, ranges=rest_r)))
    if constraints.attributes:
        options.append(("the filters you set", replace(constraints, attributes=None)))
    best: tuple[str, Constraints | None, int] = ("", None, 0)
    for what, relaxed in options:
        found = tools.count(replace(relaxed, query=None))
        if found > best[2]:
            best = (what, relaxed, found)
    return best


def _empty(constraints: Constraints, steps: list[dict[str, Any]]) -> Outcome:
    what, relaxed, found = _relaxation(constraints)
    wanted = constraints.describe() or "that"
    if relaxed is None or not found:
        return Outcome("no_match", f"I couldn't find anything matching {wanted} in this catalog. {CLARIFY}",
                       constraints, [], steps)  # fmt: skip
    reply = (f"Nothing in the catalog matches all of {wanted}. The constraint that empties the list is "
             f"'{what}': without it there are {found:,} items. Shall I show those?")  # fmt: skip
    return Outcome("no_match", reply, constraints, [], steps, offer=relaxed.as_json())


# --- Serving --------------------------------------------------------------------------------


def _serve(
    session: ChatSession, intent: str, constraints: Constraints, message: str, number: int,
    on_token: TokenCallback | None, vocabulary: Vocabulary, *, reading: Reading | None = None, polite: bool = False,
    shown: list[Card] | None = None,
) -> Outcome:  # fmt: skip
    steps: list[dict[str, Any]] = []
    shown = _shown_cards(session.memory) if shown is None else shown
    ids = _call_tools(intent, constraints, message, session, steps, reading, shown)
    _store(session, steps, number)
    explicit = intent in ("details", "compare", "history")
    found = tools.cards_of(ids)
    fresh = set(session.memory.get("shown", [])) if reading is not None and reading.refine == "else" else set()
    cards = [found[i] for i in ids if i in found and found[i].external_id not in fresh
             and (explicit or tools.satisfies(found[i], constraints))]  # fmt: skip
    if not cards:
        if intent in ("search", "recommend", "similar") and constraints.stated():
            return _empty(constraints, steps)
        if intent == "search" and constraints.query:
            # Free words that match nothing ("not sure what I want tbh"): a question helps more.
            asked = _clarify(constraints, current_vocabulary())
            return replace(asked, reply=f"I found nothing for that. {asked.reply}", steps=steps)
        if intent == "search":
            return Outcome("no_match", NO_MATCH, constraints, [], steps)
    follow = _narrowing(cards, constraints) if intent == "search" else ""
    cards, note = _prefer(cards, session.memory, constraints)
    cards = cards[:CARDS]
    if polite or not cards:
        return Outcome(intent, template_reply(cards, constraints), constraints, cards, steps, note=note, follow=follow)
    reply, source = _reply(message, cards, constraints, on_token, note)
    if on_token is not None and follow:
        on_token(" " + follow)
    return Outcome(intent, reply, constraints, cards, steps, source=source, note=note, follow=follow)


def _narrowing(candidates: list[Card], constraints: Constraints) -> str:
    """A question for a mixed result of a request that named no value ("something with
    dinosaurs"): the facet that splits the candidates best, with its top values and counts."""
    if constraints.include or len(candidates) < 10:
        return ""
    counts: dict[str, dict[str, int]] = {}
    for card in candidates:
        facets = [("category", card.category.split("/")[0])] + [("kind", tag) for tag in card.tags]
        facets += [(key, str(value)) for key, value in card.attributes.items() if isinstance(value, str)]
        for name, value in facets:
            bucket = counts.setdefault(name, {})
            bucket[value] = bucket.get(value, 0) + 1
    splits = [Split(name, "", sorted(values.items(), key=lambda kv: -kv[1])[:6], len(candidates))
              for name, values in counts.items() if len(values) >= 3]  # fmt: skip
    best = max(splits, key=_evenness, default=None)
    if best is None or best.values[0][1] > 0.6 * len(candidates):
        return ""
    offered = ", ".join(f"{value} ({count})" for value, count in best.values[:3])
    return (
        f"These are mixed; by {best.facet}, the {len(candidates)} matches include {offered}. Name one to "
        "narrow it down."
    )


def _prefer(cards: list[Card], memory: dict[str, Any], constraints: Constraints) -> tuple[list[Card], str]:
    """Soft preferences carried from earlier sessions reorder the cards (never filter them);
    the note says which were used."""
    carried: dict[str, int] = memory.get("carried", {})
    values = {label: Value.from_json(v) for label, v in memory.get("values", {}).items()}
    values.update({label: Value.from_json(v) for label, v in memory.get("carried_values", {}).items()})
    stated = {v.label for group in constraints.include for v in group} | {v.label for v in constraints.exclude}
    usable = {label: weight for label, weight in carried.items() if label not in stated and label in values}
    if not usable or not cards:
        return cards, ""

    def score(card: Card) -> int:
        return sum(w for label, w in usable.items() if any(tools.has_term(card, t) for t in values[label].terms))

    # A bias, not a filter: at most BOOSTED liked items move to the top, disliked ones to the end.
    liked = [c for c in cards if score(c) > 0][:BOOSTED]
    rest = [c for c in cards if c not in liked]
    ordered = liked + [c for c in rest if score(c) >= 0] + [c for c in rest if score(c) < 0]
    used = sorted({label for card in ordered[:CARDS] for label, w in usable.items() if w > 0
                   and any(tools.has_term(card, t) for t in values[label].terms)} |
                  {label for card in cards[:CARDS] for label, w in usable.items() if w < 0
                   and any(tools.has_term(card, t) for t in values[label].terms)})  # fmt: skip
    if ordered[:CARDS] == cards[:CARDS] or not used:
        return cards, ""
    return ordered, (f"(From your earlier conversations I leaned toward {', '.join(used)}; that only changes the "
                     "order, not what matches.)")  # fmt: skip


def _call_tools(
    intent: str, constraints: Constraints, message: str, session: ChatSession, steps: list[dict[str, Any]],
    reading: Reading | None, shown: list[Card],
) -> list[int]:  # fmt: skip
    user = session.end_user

    def call(name: str, run: Callable[[], list[int]], **arguments: Any) -> list[int]:
        if len(steps) >= MAX_STEPS:
            return []
        with trace_span(f"tool {name}", arguments={k: str(v) for k, v in arguments.items()}) as span:
            ids = run()
            span.parsed = {"items": ids[:50]}  # the tool's result, saved with the span
        steps.append({"tool": name, "arguments": {k: str(v) for k, v in arguments.items()}, "items": ids[:50]})
        return ids

    described = constraints.as_json()
    if intent == "similar" and reading is not None and reading.refine == "like" and shown:
        index = (reading.ordinal or 1) - 1 if (reading.ordinal or 1) > 0 else len(shown) - 1
        seed = shown[min(max(index, 0), len(shown) - 1)]
        liked = replace(constraints, rejected=list(dict.fromkeys([*constraints.rejected, seed.external_id])))
        near = call("similar", lambda: tools.similar(seed.external_id, user, liked), item=seed.external_id)
        return near or call("browse", lambda: tools.browse(liked), **liked.as_json())
    if intent == "recommend":
        return call("recommend", lambda: tools.recommend(user, constraints), **described)
    if intent == "history":
        return call("history", lambda: tools.history(user), user=user.external_id if user else None)
    if intent == "collections":
        return call("collections", tools.collections)
    if intent in ("similar", "details", "compare"):
        return _about_titles(intent, constraints, message, user, call)
    ids: list[int] = []
    if constraints.query:
        ids = call("search", lambda: tools.search(constraints), **described)
    if len([i for i in ids if i]) < CARDS and constraints.stated():
        # The values and ranges alone (the free words may be chatter): the most popular items.
        more = call("browse", lambda: tools.browse(replace(constraints, query=None)), **described)
        ids = list(dict.fromkeys([*ids, *more]))
    return ids


def _about_titles(intent: str, constraints: Constraints, message: str, user: EndUser | None, call: Any) -> list[int]:
    """Items the message names ('like Heat', 'compare Heat or Casino'), found by search."""
    parts = re.split(r"\s+(?:or|vs\.?|versus|and)\s+|,", message) if intent == "compare" else [message]
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


def _reply(
    message: str, cards: list[Card], constraints: Constraints, on_token: TokenCallback | None, note: str
) -> tuple[str, str]:
    """The model's reply if it holds up, else a sentence made of the cards; and who phrased it.
    Streamed, it passes through a `ReplyGate`: the client sees a sentence only once it passed
    every check, and the stored reply is exactly what the client saw."""
    fallback = template_reply(cards, constraints)
    if on_token is not None and note:
        on_token(note + " ")
    stated = _message_facts(f"{message} {constraints.describe()}")
    allowed = " ".join([stated, *(c.title for c in cards), *(c.category for c in cards)])
    about = AboutCards(cards, constraints)
    gate = ReplyGate(on_token, allowed, about) if on_token is not None else None
    try:
        completion = llm_complete(prompt=REPLY_PROMPT, variables={"message": message, "items": [
            {"title": card.title} for card in cards]}, on_token=gate)  # fmt: skip
    except LLMError:
        # The whole answer failed a check: the `done` event carries the fallback, which replaces
        # the sentences already shown (each of which passed every check on its own).
        return (gate.settle(fallback, failed=True) if gate is not None else fallback), "template"
    if gate is not None:
        gate.finish()
        text = gate.settle(fallback)
        return text, "template" if text == fallback else "model"
    text = completion.text.strip()
    if text and reply_problem(text, allowed) is None and about.problem(text, first=True) is None:
        return text, "model"
    return fallback, "template"


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
    if degenerate(text):
        return "repeats itself"
    claim = unsupported_claim(text, allowed)
    return f"names '{claim}', which is not on the cards" if claim else None


_WORD = re.compile(r"[\w']+")


def degenerate(text: str) -> bool:
    """A reply that loops or stutters ("a cat that was a cat that was a cat"): a phrase of three
    words said three times, or of four words twice, a word said four times in a row of twelve,
    or too few distinct words for its length."""
    words = [w.lower() for w in _WORD.findall(text)]
    for size, most in ((3, 2), (4, 1)):
        grams = [tuple(words[i : i + size]) for i in range(len(words) - size + 1)]
        if any(grams.count(g) > most for g in set(grams)):
            return True
    if any(max(words[i:i + 12].count(w) for w in set(words[i:i + 12])) >= 4 for i in range(max(1, len(words) - 11))
           if words[i:i + 12]):  # fmt: skip
        return True
    return len(words) >= 16 and len(set(words)) / len(words) < 0.45


class AboutCards:
    """What a kept reply must do besides holding its facts: its first sentence names a card (a
    sentence that names none, "This is a classic thriller.", says nothing the cards don't say
    better), and no sentence names a value the user turned down."""

    def __init__(self, cards: list[Card], constraints: Constraints) -> None:
        self.titles = [t for t in (_core_title(card.title) for card in cards) if len(t) >= 3]
        self.refused = [v.label.lower() for v in constraints.exclude]

    def problem(self, text: str, *, first: bool) -> str | None:
        lowered = text.lower()
        if first and not any(title in lowered for title in self.titles):
            return "names no item on the cards"
        refused = next((label for label in self.refused if re.search(rf"\b{re.escape(label)}\b", lowered)), None)
        return f"names '{refused}', which the user turned down" if refused else None


def _core_title(title: str) -> str:
    """'Matrix, The (1999)' -> 'matrix': the words a reply would use for the title."""
    core = re.sub(r"\s*\(.*?\)\s*", " ", title).strip()
    core = re.sub(r",\s*(?:The|A|An|Les|Le|La|El|Los|Las|Die|Der|Das)$", "", core).strip()
    return core.lower()


class ReplyGate:
    """Between the model's stream and the client: holds text until a sentence is complete,
    checks it (`reply_problem`; the gateway's output guardrails already ran on it), and passes
    it on only if it holds. The first sentence that fails ends what the client is sent; the
    reply is then the sentences already shown, or the fallback when none were."""

    def __init__(self, emit: TokenCallback | None, allowed: str, about: AboutCards | None = None) -> None:
        self.emit, self.allowed, self.about = emit, allowed, about
        self.pending, self.shown, self.stopped = "", "", False

    def __call__(self, text: str) -> None:
        if self.stopped:
            return
        self.pending += text
        while not self.stopped and (match := _SENTENCE.match(self.pending)) and match.end() < len(self.pending):
            self.pending = self.pending[match.end() :]
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
        if self.about is not None and self.about.problem(checked.value[0], first=not self.shown.strip()):
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
    what = constraints.describe()
    if not cards:
        return f"I couldn't find {what or 'that'} in the catalog. Try another value or a wider range."
    titles = "; ".join(_card_line(card) for card in cards)
    matching = f" matching {what}" if what else ""
    return f"Here {'is' if len(cards) == 1 else 'are'} {len(cards)}{matching}: {titles}."


def _card_line(card: Card) -> str:
    facts = [str(card.year)] if card.year and str(card.year) not in card.title else []
    if card.price is not None:
        facts.append(f"{card.price} {card.currency}".strip())
    return f"{card.title} ({', '.join(facts)})" if facts else card.title
