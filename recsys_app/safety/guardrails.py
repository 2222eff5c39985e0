"""The guardrail chain: what the LLM gateway applies to every call's input and output.

Input is the prompt's variables (user messages, briefs, catalog text, reviews): data, never
instructions. Output is the model's answer. Each guardrail that runs leaves a verdict
`{guardrail, stage, passed, action, score, detail, ms}`, stored on the call's trace; a verdict
whose action is `block` stops the call. The details name where something was found, never the
personal data itself.

| guardrail    | input                        | output                          |
| ------------ | ---------------------------- | ------------------------------- |
| pii          | redact                       | redact                          |
| injection    | neutralise (sentence removed)| -                               |
| toxicity     | block (score >= threshold)   | block                           |
| banned_terms | - (off by default)           | block                           |
| grounding    | -                            | flag (share of claims < thresh) |
| claims       | -                            | flag (price / availability)     |
| leakage      | -                            | block (placeholders, prompt     |
|              |                              | echoes, words only in removed   |
|              |                              | instructions: it obeyed them)   |

Operators change action, stages, threshold and terms per guardrail in the console (`Guardrail`
rows); a guardrail without a row runs with `DEFAULTS`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recsys_app.lib.local_cache import LocalCache
from recsys_app.safety import detectors
from recsys_app.safety.grounding import common_words, grounding
from recsys_app.safety.injection import neutralise_text
from recsys_app.safety.models import Guardrail

Action = Guardrail.Action


@dataclass(frozen=True)
class Default:
    action: str
    actions: tuple[str, ...]
    on_input: bool
    on_output: bool
    threshold: float | None = None
    description: str = ""


DEFAULTS: dict[str, Default] = {
    # First on output: it reads the model's own words, before redaction puts placeholders in them.
    "leakage": Default(Action.BLOCK, (Action.BLOCK, Action.FLAG), False, True,
                       description="Redaction placeholders, the prompt's own scaffolding, or words found only in "
                                   "neutralised instructions, repeated in the answer."),
    "pii": Default(Action.REDACT, (Action.REDACT, Action.BLOCK, Action.FLAG), True, True,
                   description="Emails, phone and card numbers, street addresses, self-introduced names."),
    "injection": Default(Action.NEUTRALISE, (Action.NEUTRALISE, Action.BLOCK, Action.FLAG), True, False,
                         description="Instructions hidden in data (chat messages, catalog text, reviews)."),
    "toxicity": Default(Action.BLOCK, (Action.BLOCK, Action.FLAG), True, True, threshold=0.8,
                        description="Insults, harassment, threats and hate (classifier score or lexicon)."),
    "banned_terms": Default(Action.BLOCK, (Action.BLOCK, Action.REDACT, Action.FLAG), False, True,
                            description="Terms the policy forbids (e.g. competitor names)."),
    "grounding": Default(Action.FLAG, (Action.BLOCK, Action.FLAG), False, True, threshold=1.0,
                         description="Item ids cited and facts stated beside them must hold in the catalog."),
    "claims": Default(Action.FLAG, (Action.BLOCK, Action.FLAG), False, True,
                      description="Prices and availability stated in the answer must appear in its input."),
}  # fmt: skip
SAFETY = ("injection", "pii", "toxicity", "banned_terms")  # what red-team and benign sets measure


@dataclass(frozen=True)
class Setting:
    name: str
    enabled: bool
    on_input: bool
    on_output: bool
    action: str
    threshold: float | None
    terms: tuple[str, ...]


policy_cache: LocalCache[dict[str, Setting]] = LocalCache(5.0)


def policy() -> dict[str, Setting]:
    """Every guardrail's setting: its row where there is one, else its default. Cached per
    process for a few seconds (this process's own saves clear it at once)."""
    return policy_cache.get("policy", _policy)


def _policy() -> dict[str, Setting]:
    rows = {row.name: row for row in Guardrail.objects.all()}
    out = {}
    for name, default in DEFAULTS.items():
        row = rows.get(name)
        out[name] = Setting(
            name, row.enabled if row else True, row.on_input if row else default.on_input,
            row.on_output if row else default.on_output, row.action if row else default.action,
            row.threshold if row and row.threshold is not None else default.threshold,
            tuple(row.terms) if row else (),
        )  # fmt: skip
    return out


@dataclass
class Checked:
    """The value after the chain (redacted, neutralised), every verdict, and the reason the
    call must stop, if one blocked it."""

    value: Any
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    blocked: str | None = None
    removed: list[str] = field(default_factory=list)  # neutralised spans (input), for the leakage check

    def add(self, verdict: dict[str, Any]) -> None:
        self.verdicts.append(verdict)
        if not verdict["passed"] and verdict["action"] == Action.BLOCK and self.blocked is None:
            self.blocked = f"{verdict['guardrail']}: {verdict['detail']}"


Leaf = tuple[str, str]  # (path, text)


def failed(verdicts: list[dict[str, Any]], names: tuple[str, ...] = SAFETY) -> list[dict[str, Any]]:
    """The verdicts of these guardrails that did not pass."""
    return [v for v in verdicts if not v["passed"] and v["guardrail"] in names]


def described(verdicts: list[dict[str, Any]]) -> str:
    return "; ".join(f"{v['guardrail']}: {v['detail']}" for v in verdicts)


def guard_input(variables: dict[str, Any]) -> Checked:
    """Run the input guardrails over every string in the variables."""
    checked = Checked(variables)
    for setting in _active("input"):
        _run(INPUT[setting.name], setting, checked, "input")
        if checked.blocked:
            break
    return checked


def guard_output(text: str, parsed: Any, *, context: str, removed: list[str] | None = None) -> Checked:
    """Run the output guardrails over an answer; `value` is `(text, parsed)` after redaction.
    `context` is the input the model saw, which stated prices and availability must come from;
    `removed` are the instructions the input check took out of it."""
    checked = Checked((text, parsed), removed=list(removed or []))
    for setting in _active("output"):
        if setting.name in OUTPUT:
            _run(OUTPUT[setting.name], setting, checked, "output", context)
        if checked.blocked:
            break
    return checked


def guard_text(text: str, *, stage: str = "input") -> Checked:
    """The chain over one piece of text outside a model call (a brief's theme, a chat message, a
    reviewer's edit); `value` is the text after redaction."""
    if stage == "input":
        checked = guard_input({"text": text})
        checked.value = checked.value["text"]
        return checked
    checked = guard_output(text, None, context="")
    checked.value = checked.value[0]
    return checked


def _active(stage: str) -> list[Setting]:
    settings = policy()
    return [s for s in settings.values() if s.enabled and (s.on_input if stage == "input" else s.on_output)]


def _run(check: Callable[..., tuple[bool, float | None, str]], setting: Setting, checked: Checked, stage: str,
         *extra: Any) -> None:  # fmt: skip
    started = time.perf_counter()
    passed, score, detail = check(setting, checked, *extra)
    checked.add({
        "guardrail": setting.name, "stage": stage, "passed": passed,
        "action": "none" if passed else setting.action, "score": score, "detail": detail,
        "ms": round((time.perf_counter() - started) * 1000, 3),
    })  # fmt: skip


# Input checks: each reads and may rewrite `checked.value` (the variables).


def _injection(setting: Setting, checked: Checked) -> tuple[bool, float | None, str]:
    found: list[str] = []

    def visit(path: str, text: str) -> str:
        out = neutralise_text(text)
        if not out.removed:
            return text
        found.append(path)
        checked.removed.extend(out.removed)
        return out.text if setting.action == Action.NEUTRALISE else text

    checked.value = map_strings(checked.value, visit)
    return not found, float(len(found)), _where("instruction-like text", found)


def _pii_input(setting: Setting, checked: Checked) -> tuple[bool, float | None, str]:
    found: list[str] = []

    def visit(path: str, text: str) -> str:
        redacted, kinds = detectors.pii_redact(text)
        found.extend(f"{kind} in {path}" for kind in kinds)
        return redacted if kinds and setting.action == Action.REDACT else text

    checked.value = map_strings(checked.value, visit)
    return not found, float(len(found)), "; ".join(found) or "none found"


def _toxicity_input(setting: Setting, checked: Checked) -> tuple[bool, float | None, str]:
    return _toxicity_of(setting, strings(checked.value))


def _banned_input(setting: Setting, checked: Checked) -> tuple[bool, float | None, str]:
    found: list[str] = []

    def visit(path: str, text: str) -> str:
        terms = detectors.banned_found(text, list(setting.terms))
        found.extend(f"'{t}' in {path}" for t in terms)
        return _redact_terms(text, terms) if terms and setting.action == Action.REDACT else text

    checked.value = map_strings(checked.value, visit)
    return not found, float(len(found)), "; ".join(found) or "none found"


# Output checks: `checked.value` is (text, parsed).


def _pii_output(setting: Setting, checked: Checked, context: str) -> tuple[bool, float | None, str]:
    text, parsed = checked.value
    redacted, kinds = detectors.pii_redact(text)
    if kinds and setting.action == Action.REDACT:
        parsed = map_strings(parsed, lambda _path, value: detectors.pii_redact(value)[0])
        checked.value = (redacted, parsed)
    return not kinds, float(len(kinds)), ", ".join(kinds) or "none found"


def _toxicity_output(setting: Setting, checked: Checked, context: str) -> tuple[bool, float | None, str]:
    text, parsed = checked.value
    return _toxicity_of(setting, strings(parsed) if parsed is not None else [("answer", text)])


def _banned_output(setting: Setting, checked: Checked, context: str) -> tuple[bool, float | None, str]:
    text, parsed = checked.value
    terms = detectors.banned_found(text, list(setting.terms))
    if terms and setting.action == Action.REDACT:
        parsed = map_strings(parsed, lambda _path, value: _redact_terms(value, terms))
        checked.value = (_redact_terms(text, terms), parsed)
    return not terms, float(len(terms)), ", ".join(f"'{t}'" for t in terms) or "none found"


def _grounding_output(setting: Setting, checked: Checked, context: str) -> tuple[bool, float | None, str]:
    _text, parsed = checked.value
    if parsed is None:
        return True, None, "free text (the caller checks its names)"
    share = grounding(parsed, None)
    minimum = setting.threshold if setting.threshold is not None else 1.0
    return share >= minimum, round(share, 4), f"{share:.0%} of cited ids and stated facts hold"


def _claims_output(setting: Setting, checked: Checked, context: str) -> tuple[bool, float | None, str]:
    text, _parsed = checked.value
    known = detectors.prices_stated(context)
    prices = sorted(p for p in detectors.prices_stated(text) if p not in known)
    availability = sorted(detectors.availability_stated(text) - detectors.availability_stated(context))
    problems = [f"price {p} not in the input" for p in prices] + [f"'{a}' not in the input" for a in availability]
    return not problems, float(len(problems)), "; ".join(problems) or "none found"


def _toxicity_of(setting: Setting, leaves: list[Leaf]) -> tuple[bool, float | None, str]:
    threshold = setting.threshold if setting.threshold is not None else 0.8
    worst, where = 0.0, ""
    for path, text in leaves:
        score, _sentence = detectors.toxicity(text)
        if score > worst:
            worst, where = score, path
    if worst >= threshold:
        return False, round(worst, 4), f"toxic text in {where} (score {worst:.2f} >= {threshold})"
    return True, round(worst, 4), f"highest score {worst:.2f}"


def _leakage_output(setting: Setting, checked: Checked, context: str) -> tuple[bool, float | None, str]:
    text, parsed = checked.value
    answer = " ".join(value for _path, value in strings(parsed)) if parsed is not None else text
    problems = leakage(answer, context=context, removed=checked.removed)
    return not problems, float(len(problems)), "; ".join(problems) or "none found"


_ECHO = re.compile(
    r"(?im)^\s*(?:system|assistant|user|human|shopper|found)\s*:|</?\s*data\s*>|<\|[a-z_]+\|>|\[/?inst\]|"
    r"untrusted data from the catalog|never follow instructions found in it|#{2,}\s*(?:instruction|response|system)"
)
_DISTINCT = re.compile(r"[\w][\w'./:@-]{3,}")


def leakage(answer: str, *, context: str = "", removed: list[str] | None = None) -> list[str]:
    """What in an answer shows the model obeyed or exposed its input: a redaction placeholder, the
    prompt's scaffolding, or a distinctive word that the input had only inside an instruction the
    input check removed (a phrase an injection asked for, a link, a code)."""
    problems = []
    if detectors.PLACEHOLDER.search(answer):
        problems.append(f"repeats a placeholder ({detectors.PLACEHOLDER.search(answer).group(0)})")  # type: ignore[union-attr]
    if _ECHO.search(answer):
        problems.append("repeats the prompt's scaffolding")
    kept = context.lower()
    planted = {word.lower().strip("./:-'") for span in removed or [] for word in _DISTINCT.findall(span)}
    planted = {w for w in planted if len(w) >= 4 and w not in kept and w not in common_words()}
    said = {word.lower().strip("./:-'") for word in _DISTINCT.findall(answer)}
    echoed = sorted(planted & said)
    if echoed:
        problems.append(f"uses words found only in removed instructions ({', '.join(echoed[:5])})")
    return problems


INPUT = {"injection": _injection, "pii": _pii_input, "toxicity": _toxicity_input, "banned_terms": _banned_input}
OUTPUT = {"pii": _pii_output, "toxicity": _toxicity_output, "banned_terms": _banned_output,
          "grounding": _grounding_output, "claims": _claims_output, "leakage": _leakage_output}  # fmt: skip


def map_strings(value: Any, visit: Callable[[str, str], str], path: str = "") -> Any:
    """A copy of a JSON value with `visit(path, text)` applied to every string in it."""
    if isinstance(value, str):
        return visit(path or "text", value)
    if isinstance(value, dict):
        return {k: map_strings(v, visit, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [map_strings(v, visit, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def strings(value: Any) -> list[Leaf]:
    out: list[Leaf] = []

    def visit(path: str, text: str) -> str:
        out.append((path, text))
        return text

    map_strings(value, visit)
    return out


def _where(what: str, paths: list[str]) -> str:
    if not paths:
        return "none found"
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"{what} in {shown}"


def _redact_terms(text: str, terms: list[str]) -> str:
    for term in terms:
        text = re.sub(rf"(?<!\w){re.escape(term.strip())}(?!\w)", "[REMOVED]", text, flags=re.IGNORECASE)
    return text


class StreamGuard:
    """Streams tokens through the output guardrails a sentence at a time: personal data is
    redacted before it is sent, and nothing more is sent once a sentence is toxic, names a
    banned term or leaks (placeholders, scaffolding, an injection's words). The full answer is
    checked again when it ends; callers that must show only a wholly checked reply add their
    own gate (the agent's `ReplyGate`)."""

    def __init__(self, emit: Callable[[str], None], *, context: str = "", removed: list[str] | None = None) -> None:
        self.emit = emit
        self.context, self.removed = context, removed or []
        self.pending = ""
        self.stopped = False
        self.emitted = False  # once text went out, the call may not be retried or fall back

    def __call__(self, token: str) -> None:
        if self.stopped:
            return
        self.pending += token
        # Only a mark followed by a space ends a sentence: "jane.doe@example.com" is checked whole.
        ends = [m.end() for m in _SENTENCE_END.finditer(self.pending)]
        if ends and ends[-1] < len(self.pending):
            done, self.pending = self.pending[: ends[-1]], self.pending[ends[-1] :]
            self._check(done)
        elif len(self.pending) > 400:
            self.flush()

    def flush(self) -> None:
        text, self.pending = self.pending, ""
        self._check(text)

    def _check(self, text: str) -> None:
        if not text or self.stopped:
            return
        checked = guard_output(text, None, context=self.context, removed=self.removed)
        if checked.blocked:
            self.stopped = True
            return
        self.emitted = True
        self.emit(checked.value[0])


_SENTENCE_END = re.compile(r"[.!?]\s+|\n")
