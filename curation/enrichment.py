"""Enrichment drafts for items with thin metadata: tags and a short description written from
the item's own text, checked against its own facts, then reviewed like collections."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from pydantic import ValidationError

from curation.checks import Facts, fact_problem, facts_of, safety_problem
from curation.models import Draft
from curation.schemas import EnrichmentText
from recsys_app.catalog.models import Item
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.tracing import trace_span

ENRICHMENT_PROMPT = "item_enrichment"
TAG = re.compile(r"^[a-z0-9][a-z0-9 &'-]{1,29}$")


def thin_items(*, limit: int) -> list[Item]:
    """Items without a description or with fewer than two tags, that no draft covers yet,
    most popular first (where enrichment pays off soonest)."""
    return list(
        Item.objects.filter(Q(description="") | Q(tags__len__lt=2), is_available=True, enrichment_drafts__isnull=True)
        .annotate(popularity=Coalesce("stats__popularity", 0.0))
        .order_by("-popularity", "pk")[:limit]
    )


def enrichment_draft_create(*, item: Item) -> Draft:
    with trace_span(f"enrichment of {item.external_id}", item=item.external_id) as span:
        facts = facts_of([item.pk])[item.pk]
        variables = _variables(item, facts)
        text, writer, first_try, problem, completion = _write(variables, facts)
    return _store(item, text, writer, first_try, problem, variables, completion, span)


def _variables(item: Item, facts: Facts) -> dict[str, Any]:
    known = [f"year {facts.year}"] if facts.year else []
    known += [f"tags: {', '.join(item.tags)}"] if item.tags else []
    known += [item.description[:500]] if item.description else []
    out: dict[str, Any] = {"title": item.title}
    if item.category_path:
        out["category"] = item.category_path
    if known:
        out["text"] = "; ".join(known)
    return out


def _write(variables: dict[str, Any], facts: Facts) -> tuple[EnrichmentText, str, bool, str, Any]:
    try:
        completion = llm_complete(prompt=ENRICHMENT_PROMPT, variables=variables, use_cache=False)  # a new attempt
        answer = EnrichmentText.model_validate(completion.parsed)
    except (LLMError, ValidationError):
        return _template(facts), "template", False, "", None
    tags = clean_tags(answer.tags)
    problem = fact_problem(answer.description, [facts]) or safety_problem(answer.description) or ""
    if not tags:
        problem = problem or "no usable tag (lower-case words, 2 to 30 characters)"
    text = EnrichmentText(tags=tags or _template(facts).tags, description=answer.description.strip())
    first_try = not problem and not completion.trace.attributes.get("repaired")
    return text, "model", first_try, problem, completion


def clean_tags(tags: list[str]) -> list[str]:
    cleaned = (tag.strip().lower() for tag in tags)
    return list(dict.fromkeys(tag for tag in cleaned if TAG.match(tag)))[:8]


def _template(facts: Facts) -> EnrichmentText:
    levels = [level.lower() for level in facts.category.split("/") if level]
    tags = clean_tags(levels + sorted(facts.categories)) or ["uncategorised"]
    year = f"from {facts.year}" if facts.year else ""
    category = facts.category.split("/")[0] if facts.category else "catalog"
    description = f"{facts.title}: {category.lower()} {year}".strip() + "."
    return EnrichmentText(tags=tags, description=description if len(description) >= 10 else f"{description} Item.")


@transaction.atomic
def _store(item: Item, text: EnrichmentText, writer: str, first_try: bool, problem: str,
           variables: dict[str, Any], completion: Any, span: Any) -> Draft:  # fmt: skip
    Item.objects.select_for_update().filter(pk=item.pk).first()  # numbers an item's drafts one at a time
    number = (Draft.objects.filter(item=item).aggregate(top=Max("number"))["top"] or 0) + 1
    content = text.model_dump()
    return Draft.objects.create(
        kind=Draft.Kind.ENRICHMENT,
        item=item,
        number=number,
        status=Draft.Status.FAILED if problem else Draft.Status.PENDING_REVIEW,
        failure_reason=f"description {problem}" if problem and "tag" not in problem else problem,
        generated=content,
        content=content,
        writer=writer,
        first_try_grounded=first_try,
        evidence={"variables": variables, "source_text": variables.get("text", "")},
        prompt_version=completion.version if completion is not None else None,
        trace=span,
        model=completion.trace.model if completion is not None else "",
    )
