"""From a model's answer to text a reviewer can trust: every sentence checked against its items
(`claims.py`), what failed repaired once by the model with the reason, and what still fails
replaced by words made of catalog facts or left out. Collections, enrichments and profiles go
through it; each keeps the verdicts as the draft's evidence, so a reviewer sees which sentences
were checked, repaired or replaced, and why.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from pydantic import BaseModel, Field, ValidationError

from curation.checks import Facts
from curation.claims import CATEGORY_SHARE, Grounds, Verdict, check, prompt_ngrams
from recsys_app.catalog.facets import facets_current
from recsys_app.catalog.models import Facet
from recsys_app.lib.local_cache import LocalCache
from recsys_app.lib.titles import display_title
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.prompts import PromptError, version_for

REPAIR_PROMPT = "sentence_repair"
POPULAR_SHARE = 0.1  # the most liked tenth of the catalog may be called popular
MIN_VALUE_LENGTH = 3  # shorter attribute values ('s', 'xl') are not read as claims in prose

_catalog: LocalCache[dict[str, Any]] = LocalCache(ttl=600.0)


def grounds_for(items: Sequence[Facts], *, context: str = "", prompt: Any = None) -> Grounds:
    """What a text about `items` may draw on; `prompt`: the version that wrote it (its
    instructions and worked answers must not be copied, its example items not named)."""
    copied = prompt_ngrams(*_prompt_texts(prompt)) if prompt is not None else frozenset()
    example_ids = frozenset(_example_ids(prompt)) if prompt is not None else frozenset()
    shape = _catalog.get("shape", _catalog_shape)
    return Grounds(
        items=list(items),
        context=context,
        prompt_ngrams=copied,
        popular=frozenset(_popular([f.external_id for f in items], shape["popular_floor"])),
        newest_year=shape["newest_year"],
        attribute_values=shape["attribute_values"],
        example_ids=example_ids,
    )


def _prompt_texts(prompt: Any) -> list[str]:
    examples = prompt.examples or []
    return [prompt.system, *(json.dumps(example.get("output"), ensure_ascii=False) for example in examples)]


def _example_ids(prompt: Any) -> list[str]:
    return [
        str(item["item_id"]).lower()
        for example in prompt.examples or []
        for item in (example.get("input") or {}).get("items", [])
        if isinstance(item, dict) and item.get("item_id")
    ]


def _catalog_shape() -> dict[str, Any]:
    """Catalog-wide numbers the claims are judged by (per process, ten minutes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(CASE WHEN attributes->>'year' ~ '^[0-9]{4}$' THEN (attributes->>'year')::int END) "
            "FROM catalog_item WHERE is_available"
        )
        newest = cursor.fetchone()[0]
        cursor.execute(
            "SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY popularity) FROM retrieval_itemstats "
            "WHERE popularity > 0",
            [1 - POPULAR_SHARE],
        )
        floor = cursor.fetchone()[0]
    values = {
        str(value).lower(): facet.name
        for facet in facets_current()
        if facet.source == Facet.Source.ATTRIBUTE and facet.value_type == Facet.ValueType.TEXT
        for value in facet.values
        if len(str(value)) >= MIN_VALUE_LENGTH
    }
    return {"newest_year": newest, "popular_floor": floor, "attribute_values": values}


def _popular(external_ids: list[str], floor: float | None) -> list[str]:
    if floor is None or not external_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.external_id FROM catalog_item i JOIN retrieval_itemstats s ON s.item_id = i.id "
            "WHERE i.external_id = ANY(%s) AND s.popularity >= %s",
            [external_ids, floor],
        )
        return [row[0] for row in cursor.fetchall()]


class _Rewrite(BaseModel):
    n: int
    text: str = Field(max_length=300)


class _Repairs(BaseModel):
    sentences: list[_Rewrite]


@dataclass
class Repair:
    """What the one repair call did: its trace, and any error that kept it from answering."""

    asked: int = 0
    trace_id: int | None = None
    error: str = ""
    tokens: int = 0
    rewrites: dict[int, str] = field(default_factory=dict)


def repair(failed: list[Verdict], facts: Sequence[Facts]) -> Repair:
    """One model call for all failed sentences: each with the reason it failed and the facts it
    may use (its item's line, or for a sentence about the whole collection, the collection's
    summary). Returns the rewrites by position in `failed`."""
    outcome = Repair(asked=len(failed))
    if not failed:
        return outcome
    by_id = {f.external_id: f for f in facts}
    whole = collection_line(facts)
    variables = {
        "facts": [],
        "sentences": [
            {"n": n, "text": v.text, "problem": v.reason,
             "facts": _fact_line(by_id[v.item_id]) if v.item_id in by_id else whole}
            for n, v in enumerate(failed)
        ],
    }  # fmt: skip
    try:
        version = version_for(prompt_name=REPAIR_PROMPT)
        completion = llm_complete(prompt=REPAIR_PROMPT, number=version.number, variables=variables,
                                  output_schema=one_rewrite_each(version.output_schema, len(failed)),
                                  use_cache=False)  # fmt: skip
        answer = _Repairs.model_validate(completion.parsed)
    except (LLMError, PromptError, ValidationError) as exc:
        outcome.error = str(exc)[:300]
        return outcome
    outcome.trace_id = completion.trace.pk
    outcome.tokens = completion.trace.tokens_in + completion.trace.tokens_out
    outcome.rewrites = {r.n: r.text.strip() for r in answer.sentences if 0 <= r.n < len(failed) and r.text.strip()}
    return outcome


def one_rewrite_each(schema: dict[str, Any] | None, count: int) -> dict[str, Any] | None:
    """The repair prompt's schema narrowed to exactly one rewrite per failed sentence, `n` one
    of their positions."""
    if not schema or "sentences" not in schema.get("properties", {}):
        return schema
    narrowed = copy.deepcopy(schema)
    sentences = narrowed["properties"]["sentences"]
    sentences["minItems"] = sentences["maxItems"] = count
    item = sentences.setdefault("items", {}).setdefault("properties", {})
    item["n"] = {"type": "integer", "enum": list(range(count))}
    return narrowed


def collection_line(facts: Sequence[Facts]) -> str:
    """What can be said of a set of items as a whole, without numbers to miscount: how many,
    their years, the categories all of them carry and those some (a quarter or more) carry.
    Rarer categories are left out: listed, they invite "comedy, drama and fantasy" over one
    fantasy film."""
    years = sorted(f.year for f in facts if f.year)
    counts: dict[str, int] = {}
    for f in facts:
        for name in f.categories or {f.category.lower()}:
            counts[name] = counts.get(name, 0) + 1
    every = sorted(n.title() for n in counts if counts[n] == len(facts))
    some = sorted((n for n in counts if CATEGORY_SHARE * len(facts) <= counts[n] < len(facts)),
                  key=lambda n: (-counts[n], n))[:3]  # fmt: skip
    parts = [f"{len(facts)} items"]
    parts += [f"years {years[0]} to {years[-1]}" if years[0] != years[-1] else f"year {years[0]}"] if years else []
    parts += [f"all {', '.join(every)}"] if every else []
    parts += [f"some {', '.join(n.title() for n in some)}"] if some else []
    return " | ".join(parts)


def _fact_line(facts: Facts) -> str:
    parts = [display_title(facts.title)]
    parts += [str(facts.year)] if facts.year else []
    parts += [", ".join(sorted(c.title() for c in facts.categories)) or facts.category] if facts.categories or \
        facts.category else []  # fmt: skip
    parts += [f"price {facts.price}"] if facts.price is not None else []
    return " | ".join(parts)


Fallback = Callable[[Verdict], str | None]


def settle(
    verdicts: list[Verdict], *, grounds: Grounds, facts: Sequence[Facts], fallback: Fallback, model_wrote: bool = True
) -> Repair:
    """Failed sentences repaired once (one call), re-checked; those still failing replaced by the
    fallback's catalog-fact words, or dropped where it gives none. Changes `verdicts` in place."""
    failed = [v for v in verdicts if v.status == "failed"]
    outcome = repair(failed, facts) if failed and model_wrote else Repair()
    by_id = {f.external_id: f for f in grounds.items}
    for n, verdict in enumerate(failed):
        verdict.original = verdict.text
        rewrite = outcome.rewrites.get(n)
        if rewrite:
            item = by_id.get(verdict.item_id or "")
            again = check(rewrite, part=verdict.part, grounds=grounds, item=item)
            if all(v.status == "passed" for v in again) and len(again) == 1:
                verdict.text, verdict.status = rewrite, "repaired"
                continue
            if again and again[0].reason:
                verdict.reason += f"; the repair {again[0].reason}"
        replacement = fallback(verdict)
        verdict.text, verdict.status = (replacement, "replaced") if replacement else ("", "dropped")
    return outcome


def first_try_clean(verdicts: list[Verdict]) -> bool:
    return all(v.status == "passed" for v in verdicts)


def summary(verdicts: list[Verdict], repair_outcome: Repair) -> dict[str, Any]:
    """The counts a reviewer and the figures read: sentences checked, repaired, replaced, dropped."""
    counts = {status: sum(1 for v in verdicts if v.status == status) for status in ("passed", "repaired",
                                                                                    "replaced", "dropped")}  # fmt: skip
    return {
        "sentences": len(verdicts),
        **counts,
        "repair_trace": repair_outcome.trace_id,
        "repair_error": repair_outcome.error,
    }
