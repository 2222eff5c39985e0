"""What the checks of generated text stand on: the catalog facts of an item (`Facts`), the id
checks of a collection's notes (every note on an item that was retrieved and picked, none given
to several items or copied from the prompt's worked answers), and the safety hooks (links and
addresses, the output guardrails) whose failure fails the draft with its reason. Sentences are
judged against the facts in `claims.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection

from recsys_app.catalog.selectors import top_categories
from recsys_app.lib.titles import display_title
from recsys_app.safety.guardrails import described, failed, guard_text

PRICE = re.compile(r"[$€£]\s?(\d{1,7}(?:[.,]\d{1,2})?)|(\d{1,7}(?:[.,]\d{1,2})?)\s?(?:EUR|USD|GBP|euros?|dollars?)\b")
LINK = re.compile(r"https?://|www\.|\b[\w.+-]+@[\w-]+\.[\w.]+\b", re.IGNORECASE)
MARKUP = re.compile(r"</?[a-z!][^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Facts:
    """What the catalog says about one item, as the checks compare it."""

    external_id: str
    title: str
    year: int | None
    price: Decimal | None
    category: str
    categories: frozenset[str]  # lower-cased category levels and tags
    text: str = ""  # its own description, tags and attribute values, lower-cased: sources for claims
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)  # text attributes

    def as_variables(self) -> dict[str, Any]:
        """The item as the writer prompts see it (only facts the catalog has)."""
        out: dict[str, Any] = {"item_id": self.external_id, "title": display_title(self.title)}
        if self.year:
            out["year"] = self.year
        if self.category:
            out["category"] = self.category
        if len(self.categories) > 1:
            out["genres"] = ", ".join(sorted({level.title() for level in self.categories}))
        if self.price is not None:
            out["price"] = float(self.price)
        return out


def facts_of(item_ids: Iterable[int]) -> dict[int, Facts]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, external_id, title, attributes->>'year', price, category_path, tags, description, attributes "
            "FROM catalog_item WHERE id = ANY(%s)",
            [list(item_ids)],
        )
        return {row[0]: _facts(*row[1:]) for row in cursor.fetchall()}


def _facts(external_id: str, title: str, year: str | None, price: Decimal | None, path: str, tags: list[str],
           description: str = "", attributes: dict[str, Any] | None = None) -> Facts:  # fmt: skip
    levels = [level for level in path.split("/") if level]
    known = frozenset(value.lower() for value in [*levels, *tags])
    if isinstance(attributes, str):  # a raw cursor hands jsonb over as text
        attributes = json.loads(attributes)
    texts = {key: str(value) for key, value in (attributes or {}).items() if isinstance(value, str) and value.strip()}
    own = " ".join([description, *tags, *texts.values()]).lower()
    return Facts(external_id, title, int(year) if year and year.isdigit() else None, price, path, known, own, texts)


def catalog_categories() -> frozenset[str]:
    """Top-level category names of the catalog, lower-cased: words that, written in generated
    text, claim a category."""
    return frozenset(name.lower() for name in top_categories() if len(name) > 2)


def stated_prices(text: str) -> set[Decimal]:
    found = set()
    for symbol_first, code_after in PRICE.findall(text):
        found.add(Decimal((symbol_first or code_after).replace(",", ".")))
    return found


# Safety hooks: each returns a reason to refuse the text, or None.
SafetyHook = Callable[[str], str | None]


def _no_links_or_addresses(text: str) -> str | None:
    match = LINK.search(text)
    return f"contains a link or an address ('{match.group(0)}')" if match else None


def _guardrail_chain(text: str) -> str | None:
    """The output guardrails (toxicity, banned terms, personal data), as on a model's answer:
    a reviewer's edit is held to the same policy as generated text."""
    checked = guard_text(text, stage="output")
    refused = failed(checked.verdicts)
    return f"refused by the guardrail chain ({described(refused)})" if refused else None


SAFETY_HOOKS: list[SafetyHook] = [_no_links_or_addresses, _guardrail_chain]


def markup_problem(text: str) -> str | None:
    """Tags (often the prompt's own `<data>` echoed back) are not shown as text: the part goes."""
    match = MARKUP.search(text)
    return f"contains markup ('{match.group(0)}')" if match else None


def hook_problem(text: str) -> str | None:
    """The first safety hook's reason to refuse `text`, or None."""
    for hook in SAFETY_HOOKS:
        problem = hook(text)
        if problem:
            return problem
    return None


def safety_problem(text: str) -> str | None:
    """For text taken whole (edits, enrichments, profiles): the hooks, and no markup either."""
    return hook_problem(text) or markup_problem(text)


@dataclass
class Report:
    """What the id and safety checks found: notes left out and fatal problems."""

    dropped: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"dropped": self.dropped, "problems": self.problems}


def note_problems(
    notes: dict[str, str], *, picked: list[Facts], retrieved: set[str], examples: frozenset[str] = frozenset()
) -> tuple[dict[str, str], Report]:
    """Per picked item, why its note cannot be used as it is (given to several items, copied from
    the prompt's worked answers); notes on items that were not retrieved or not picked are left
    out; text that trips a safety hook fails the draft. The sentences themselves are judged by
    `claims.check`."""
    report = Report()
    by_id = {f.external_id for f in picked}
    repeated = _repeated(notes)
    reasons: dict[str, str] = {}
    for item_id, note in notes.items():
        key = note.strip().lower()
        if item_id not in retrieved or item_id not in by_id:
            why = "names an item that was not retrieved (or does not exist)" if item_id not in retrieved else \
                "names a retrieved item that is not in the collection"  # fmt: skip
            report.dropped.append({"item_id": item_id, "part": "note", "text": note[:200], "reason": why})
            continue
        unsafe = hook_problem(note)
        if unsafe:
            report.problems.append(f"note on {item_id} {unsafe}")
        if key in repeated:
            reasons[item_id] = f"is the same note as {repeated[key] - 1} other item(s) get"
        elif key in examples:
            reasons[item_id] = "copies a note of the prompt's worked examples"
    return reasons, report


def _repeated(notes: dict[str, str]) -> dict[str, int]:
    """Notes written for more than one item (a small model copying its worked example or
    itself): they say nothing about any one item."""
    counts: dict[str, int] = {}
    for note in notes.values():
        counts[note.strip().lower()] = counts.get(note.strip().lower(), 0) + 1
    return {text: count for text, count in counts.items() if count > 1}


def template_note(facts: Facts) -> str:
    """A note made only of catalog facts: grounded by construction ('Alien: Horror, Sci-Fi from 1979.')."""
    kinds = ", ".join(sorted(level.title() for level in facts.categories)) or facts.category.split("/")[0]
    note = f"{display_title(facts.title)}: {kinds}" if kinds else display_title(facts.title)
    note += f" from {facts.year}" if facts.year else ""
    note += f", {facts.price}" if facts.price is not None else ""
    return note + "."
