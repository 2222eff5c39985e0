"""From a brief to a draft collection: retrieve, rank and diversify, write, check, store.

1. Candidates: hybrid search on the theme (full text, and embedding neighbours above a
   similarity floor), the brief's cluster items, and what the audience has been engaging
   with; the brief's constraints apply in SQL. Only items that match the theme (by search or
   cluster) are eligible: popularity ranks them, it does not add off-theme items.
2. Rank-fused, then diversified by MMR over item embeddings with a creator cap.
3. The `collection_writer` prompt writes title, description and a note per item, citing items
   by id; when the model gives nothing usable, a template made of catalog facts does.
4. `checks.py` drops notes with unknown ids or wrong facts and fails a draft whose title or
   description states a wrong fact or trips a safety hook.
5. The draft waits for review with its evidence: retrieved items and scores, the checks,
   the prompt version and the trace tree of the run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Q
from pydantic import ValidationError

from curation.checks import Facts, Report, check_collection, facts_of, template_note
from curation.models import Brief, Draft, DraftItem
from curation.schemas import Audience, CollectionText, Constraints, Note, parsed
from curation.segments import segment_trending
from recsys_app.catalog.models import Item
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import Trace
from recsys_app.llmops.prompts import PromptError, version_for
from recsys_app.llmops.tracing import trace_span
from recsys_app.ranking.blend import Scored, blend
from recsys_app.ranking.rerank import diversify
from recsys_app.ranking.serving import item_metas, item_vectors
from recsys_app.retrieval.search import search_candidates
from recsys_app.retrieval.sources import SOURCES, Candidate, Query, item_conditions
from recsys_app.safety.guardrails import described, failed, guard_text

WRITER_PROMPT = "collection_writer"
MIN_SIMILARITY = 0.3  # all-MiniLM cosine below which an embedding neighbour is off-theme
WEIGHTS = {"lexical": 1.0, "semantic": 1.0, "cluster": 1.0, "segment": 0.5, "trending": 0.2}
DIVERSITY = 0.3
CREATOR_CAP = 2


class BriefBusy(Exception):
    """The brief is already queued or running."""


def brief_queue(*, brief: Brief) -> Brief:
    """Mark the brief queued (the caller enqueues the task); refused while a run is pending."""
    if (
        not Brief.objects.filter(pk=brief.pk)
        .exclude(status__in=[Brief.Status.QUEUED, Brief.Status.RUNNING])
        .update(status=Brief.Status.QUEUED, status_reason="")
    ):
        raise BriefBusy(f"brief #{brief.pk} is already queued or running")
    brief.refresh_from_db(fields=["status", "status_reason"])
    return brief


@dataclass
class Outcome:
    status: str
    reason: str = ""
    draft_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "draft": self.draft_id}


def brief_run(*, brief_id: int, task_id: str = "") -> Outcome:
    """Run the pipeline for a queued brief once: a second worker given the same brief stops.

    The claim records the Celery task id, so the same message redelivered after its worker was
    killed mid-run (acks_late) takes the brief up again; any other task finds it running and stops.
    """
    mine = Q(status=Brief.Status.QUEUED)
    if task_id:
        mine |= Q(status=Brief.Status.RUNNING, claimed_by=task_id)
    if not Brief.objects.filter(mine, pk=brief_id).update(status=Brief.Status.RUNNING, claimed_by=task_id):
        return Outcome("skipped", "not queued (already run, or running elsewhere)")
    brief = Brief.objects.get(pk=brief_id)
    try:
        with trace_span(f"curation brief #{brief.pk}", theme=brief.theme) as span:
            outcome = _refusal(brief, span) or _run(brief, span)
    except Exception as exc:
        _finish(brief, Brief.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    failed = outcome.status == Brief.Status.FAILED
    _finish(brief, Brief.Status.DRAFTED if outcome.draft_id else Brief.Status.FAILED if failed else
            Brief.Status.NO_MATCH, outcome.reason)  # fmt: skip
    return outcome


def _refusal(brief: Brief, span: Trace) -> Outcome | None:
    """A theme the guardrail chain blocks (toxic) or that tries to instruct the writer fails
    the brief, with the verdicts on its trace; no model sees it."""
    checked = guard_text(brief.theme)
    span.guardrails = checked.verdicts
    refused = [v for v in failed(checked.verdicts) if v["action"] == "block" or v["guardrail"] == "injection"]
    if not refused:
        return None
    return Outcome(Brief.Status.FAILED, f"the theme was refused by the guardrail chain ({described(refused)})")


def _finish(brief: Brief, status: str, reason: str) -> None:
    Brief.objects.filter(pk=brief.pk).update(status=status, status_reason=reason[:2000])


def _run(brief: Brief, span: Trace) -> Outcome:
    constraints = parsed(Constraints, brief.constraints, where="constraints")
    audience = parsed(Audience, brief.audience, where="audience")
    scored = retrieve(brief, constraints, audience)
    if len(scored) < constraints.min_items:
        return Outcome(
            Brief.Status.NO_MATCH,
            f"found {len(scored)} item(s) matching the theme and constraints; at least {constraints.min_items} needed",
        )
    picked = select(scored, constraints.max_items)
    facts = facts_of([entry.item_id for entry in picked])
    picked = [entry for entry in picked if entry.item_id in facts]
    written = write(brief.theme, [facts[entry.item_id] for entry in picked], _external_ids(scored))
    draft = _draft_store(brief, audience, picked, facts, scored, written, span)
    return Outcome(draft.status, draft.failure_reason, draft.pk)


def _external_ids(scored: list[Scored]) -> set[str]:
    return set(Item.objects.filter(pk__in=[e.item_id for e in scored]).values_list("external_id", flat=True))


def retrieve(brief: Brief, constraints: Constraints, audience: Audience) -> list[Scored]:
    """Theme-matching candidates under the constraints, rank-fused with popularity signals."""
    query = Query(None, constraints.filters())
    by_source = _theme_candidates(brief.theme, query)
    if brief.seed_items:
        by_source["cluster"] = _seeds(brief.seed_items, query)
    eligible = {c.item_id for candidates in by_source.values() for c in candidates}
    by_source["segment"] = segment_trending(audience, query, limit=300)
    by_source["trending"] = SOURCES["trending"].fetch(query, 300)
    fused = blend(by_source, WEIGHTS)
    return [entry for entry in fused if entry.item_id in eligible]


def _theme_candidates(theme: str, query: Query) -> dict[str, list[Candidate]]:
    found = search_candidates(text=theme, query=query)
    found["semantic"] = [c for c in found["semantic"] if c.score >= MIN_SIMILARITY]
    return found


def _seeds(item_ids: list[int], query: Query) -> list[Candidate]:
    where, params = item_conditions(query)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT i.id FROM catalog_item i WHERE i.id = ANY(%s) AND {where}", [item_ids, *params])
        allowed = {row[0] for row in cursor.fetchall()}
    kept = [item_id for item_id in item_ids if item_id in allowed]
    return [Candidate(item_id, "cluster", 1.0 - rank / max(len(kept), 1)) for rank, item_id in enumerate(kept)]


def select(scored: list[Scored], size: int) -> list[Scored]:
    """The best `size` after MMR diversity and the creator cap."""
    window = scored[: size * 4]
    ids = [entry.item_id for entry in window]
    metas = item_metas(set(ids), with_attributes=False)
    window = [entry for entry in window if entry.item_id in metas]
    return diversify(window, size, vectors=item_vectors(ids), diversity=DIVERSITY, creator_cap=CREATOR_CAP, metas=metas)


@dataclass
class Written:
    text: CollectionText
    writer: str  # model | template
    report: Report
    first_try_grounded: bool
    variables: dict[str, Any]
    version_id: int | None = None
    model: str = ""
    model_error: str = ""


def write(theme: str, picked: list[Facts], retrieved: set[str]) -> Written:
    """The model's words where they pass the checks; template words where it gave none."""
    variables = {"theme": theme, "items": [facts.as_variables() for facts in picked]}
    try:
        version = version_for(prompt_name=WRITER_PROMPT)
        schema = ids_only_schema(version.output_schema, [f.external_id for f in picked])
        # No response cache: running a brief again is asking for another attempt.
        completion = llm_complete(
            prompt=WRITER_PROMPT, number=version.number, variables=variables, output_schema=schema, use_cache=False
        )
        answer = CollectionText.model_validate(completion.parsed)
    except (LLMError, PromptError, ValidationError) as exc:
        return Written(_template_text(theme, picked), "template", Report(), False, variables,
                       model_error=str(exc)[:500])  # fmt: skip
    text, report = compose(theme, picked, retrieved, answer, examples=example_notes(version.examples))
    first_try = report.clean and not completion.trace.attributes.get("repaired")
    return Written(text, "model", report, first_try, variables, completion.version.pk, completion.trace.model)


def example_notes(examples: list[dict[str, Any]]) -> frozenset[str]:
    """The notes of the prompt's worked answers, which a small model tends to copy."""
    return frozenset(
        str(note.get("note", "")).strip().lower()
        for example in examples or []
        for note in (example.get("output") or {}).get("notes", [])
        if isinstance(note, dict)
    )


def compose(
    theme: str, picked: list[Facts], retrieved: set[str], answer: CollectionText, examples: frozenset[str] = frozenset()
) -> tuple[CollectionText, Report]:
    """The draft's words from a model answer: every picked item once, in the picked order,
    with the model's note where it passed the checks and a note of catalog facts where it did
    not (or gave none); a dropped title or description becomes the template's."""
    notes = {note.item_id: note.note.strip() for note in answer.notes if note.note.strip()}
    checked = check_collection(
        title=answer.title.strip(), description=answer.description.strip(), notes=notes, picked=picked,
        retrieved=retrieved, examples=examples,
    )  # fmt: skip
    fallback = _template_text(theme, picked)
    missing = [f.external_id for f in picked if f.external_id not in checked.notes]
    if missing:
        checked.report.dropped.append(
            {"part": "notes", "text": "", "reason": f"no usable note for {', '.join(missing)}"}
        )
    text = CollectionText(
        title=checked.title or fallback.title,
        description=checked.description or fallback.description,
        notes=[Note(item_id=f.external_id, note=checked.notes.get(f.external_id) or template_note(f)) for f in picked],
    )
    return text, checked.report


def ids_only_schema(schema: dict[str, Any] | None, ids: list[str]) -> dict[str, Any] | None:
    """The writer's schema with one note per given item and `item_id` an enum of their ids: a
    grammar-constrained model cannot cite anything else, nor loop past the last item."""
    if not schema or "notes" not in schema.get("properties", {}):
        return schema
    narrowed = copy.deepcopy(schema)
    notes = narrowed["properties"]["notes"]
    notes["minItems"] = notes["maxItems"] = len(ids)
    notes.setdefault("items", {}).setdefault("properties", {})["item_id"] = {"enum": ids}
    return narrowed


def _template_text(theme: str, picked: list[Facts]) -> CollectionText:
    categories = sorted({f.category.split("/")[0] for f in picked if f.category})[:3]
    title = theme.strip()[:1].upper() + theme.strip()[1:80]
    description = f"{len(picked)} picks for {theme.strip()}" + (
        f", from {', '.join(categories)}." if categories else "."
    )
    return CollectionText(
        title=title if len(title) >= 3 else f"Picks: {title}",
        description=description[:400],
        notes=[Note(item_id=f.external_id, note=template_note(f)) for f in picked],
    )


@transaction.atomic
def _draft_store(
    brief: Brief,
    audience: Audience,
    picked: list[Scored],
    facts: dict[int, Facts],
    scored: list[Scored],
    written: Written,
    span: Trace,
) -> Draft:
    Brief.objects.select_for_update().filter(pk=brief.pk).first()  # numbers drafts one at a time
    number = (brief.drafts.aggregate(top=Max("number"))["top"] or 0) + 1
    content = written.text.model_dump()
    failed = "; ".join(written.report.problems)
    draft = Draft.objects.create(
        kind=Draft.Kind.COLLECTION,
        brief=brief,
        number=number,
        status=Draft.Status.FAILED if failed else Draft.Status.PENDING_REVIEW,
        failure_reason=failed,
        generated=content,
        content=content,
        writer=written.writer,
        first_try_grounded=written.first_try_grounded,
        audience=audience.model_dump(),
        evidence=_evidence(scored, facts, written),
        prompt_version_id=written.version_id,
        trace=span,
        model=written.model,
    )
    DraftItem.objects.bulk_create(
        DraftItem(draft=draft, item_id=e.item_id, position=n, score=round(e.score, 6), sources=e.sources)
        for n, e in enumerate(picked, start=1)
    )
    return draft


def _evidence(scored: list[Scored], facts: dict[int, Facts], written: Written) -> dict[str, Any]:
    return {
        "retrieved": [{"item_id": e.item_id, "score": round(e.score, 6), "sources": e.sources} for e in scored[:100]],
        "retrieved_count": len(scored),
        "checks": written.report.as_json(),
        "variables": written.variables,
        "model_error": written.model_error,
    }
