"""From a brief to a draft collection: retrieve, rank and diversify, write, check, store.

1. Candidates: hybrid search on the theme (full text, and embedding neighbours above a
   similarity floor), the brief's cluster items, and what the audience has been engaging
   with; the brief's constraints apply in SQL. Only items that match the theme (by search or
   cluster) are eligible: popularity ranks them, it does not add off-theme items.
2. Rank-fused, then diversified by MMR over item embeddings with a creator cap.
3. The `collection_writer` prompt writes title, description and a note per item, citing items
   by id; when the model gives nothing usable, a template made of catalog facts does.
4. Every sentence of the answer is checked against the items it talks about (`claims.py`);
   what fails is repaired once by the model with the reason, then replaced by words made of
   catalog facts or left out (`faithfulness.py`). Notes on unknown ids are left out; text that
   trips a safety hook fails the draft.
5. The draft waits for review with its evidence: retrieved items and scores, the checks,
   the prompt version and the trace tree of the run.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Q
from pydantic import ValidationError

from curation.checks import Facts, Report, facts_of, hook_problem, note_problems, template_note
from curation.claims import CATEGORY_SHARE, Grounds, Verdict, check, mentions
from curation.coherence import Fit, cohere, theme_decades
from curation.faithfulness import Repair, collection_line, first_try_clean, grounds_for, settle, summary
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
from recsys_app.retrieval.sources import SOURCES, Candidate, Query, Range, item_conditions
from recsys_app.safety.guardrails import described, failed, guard_text

WRITER_PROMPT = "collection_writer"
MIN_SIMILARITY = 0.3  # all-MiniLM cosine below which an embedding neighbour is off-theme
WEIGHTS = {"lexical": 1.0, "semantic": 1.0, "cluster": 1.0, "segment": 0.5, "trending": 0.2}
DIVERSITY = 0.3
CREATOR_CAP = 2
MIN_TITLE = 3  # characters, as the writer's schema asks
MIN_DESCRIPTION = 10  # characters: what is left of a description after its failed sentences, at least
WINDOW = 6  # retrieved items looked at per collection place, before coherence and diversity


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
    window = scored[: constraints.max_items * WINDOW]
    facts = facts_of([entry.item_id for entry in window])
    fit = cohere(window, facts, theme=brief.theme)
    span.attributes = {**(span.attributes or {}), "coherence": fit.as_json()}
    if len(fit.kept) < constraints.min_items:
        return Outcome(
            Brief.Status.NO_MATCH,
            f"only {len(fit.kept)} of {len(window)} retrieved item(s) fit the theme and each other"
            + (f" (all {fit.dominant[0]})" if fit.dominant else "")
            + f"; at least {constraints.min_items} needed",
        )
    picked = select(fit.kept, constraints.max_items)
    written = write(brief.theme, [facts[entry.item_id] for entry in picked], _external_ids(scored))
    draft = _draft_store(brief, audience, picked, facts, scored, written, span, fit)
    return Outcome(draft.status, draft.failure_reason, draft.pk)


def _external_ids(scored: list[Scored]) -> set[str]:
    return set(Item.objects.filter(pk__in=[e.item_id for e in scored]).values_list("external_id", flat=True))


def retrieve(brief: Brief, constraints: Constraints, audience: Audience) -> list[Scored]:
    """Theme-matching candidates under the constraints, rank-fused with popularity signals. A
    decade the theme names ("thrillers of the 1990s") is a constraint on the items' year."""
    filters = constraints.filters()
    decades = theme_decades(brief.theme)
    if decades:
        span = Range("year", Decimal(decades[0]), Decimal(decades[-1] + 9))
        filters = dataclasses.replace(filters, ranges=(*(filters.ranges or ()), span))
    query = Query(None, filters)
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
    verdicts: list[Verdict] = field(default_factory=list)
    repair: Repair = field(default_factory=Repair)


def write(theme: str, picked: list[Facts], retrieved: set[str]) -> Written:
    """The model's words where they pass the checks (or pass after one repair); catalog-fact
    words where they do not, or where the model gave none."""
    variables = {"theme": theme, "shared": collection_line(picked), "items": [f.as_variables() for f in picked]}
    try:
        version = version_for(prompt_name=WRITER_PROMPT)
        schema = ids_only_schema(version.output_schema, [f.external_id for f in picked])
        # No response cache: running a brief again is asking for another attempt.
        completion = llm_complete(
            prompt=WRITER_PROMPT, number=version.number, variables=variables, output_schema=schema, use_cache=False
        )
        answer = CollectionText.model_validate(completion.parsed)
    except (LLMError, PromptError, ValidationError) as exc:
        template = _template_text(theme, picked, grounds_for(picked, context=theme))
        return Written(template, "template", Report(), False, variables, model_error=str(exc)[:500])
    grounds = grounds_for(picked, context=theme, prompt=completion.version)
    text, report, verdicts, repaired = compose(
        theme, picked, retrieved, answer, grounds=grounds, examples=example_notes(version.examples)
    )
    first_try = first_try_clean(verdicts) and not report.dropped and not completion.trace.attributes.get("repaired")
    return Written(text, "model", report, first_try, variables, completion.version.pk, completion.trace.model,
                   verdicts=verdicts, repair=repaired)  # fmt: skip


def example_notes(examples: list[dict[str, Any]]) -> frozenset[str]:
    """The notes of the prompt's worked answers, which a small model tends to copy."""
    return frozenset(
        str(note.get("note", "")).strip().lower()
        for example in examples or []
        for note in (example.get("output") or {}).get("notes", [])
        if isinstance(note, dict)
    )


def compose(
    theme: str,
    picked: list[Facts],
    retrieved: set[str],
    answer: CollectionText,
    *,
    grounds: Grounds,
    examples: frozenset[str] = frozenset(),
    repair: bool = True,
) -> tuple[CollectionText, Report, list[Verdict], Repair]:
    """The draft's words from a model answer: a verdict per sentence of the title, the
    description and each picked item's note (in the picked order); failed sentences repaired
    once, then replaced by catalog-fact words (a note, the title) or left out (a description
    sentence; an empty description becomes the template's). `repair=False` skips the repair
    call: failed sentences go straight to their replacements."""
    verdicts, report = judged(picked, retrieved, answer, grounds=grounds, examples=examples)
    fallback = _template_text(theme, picked, grounds)
    by_id = {f.external_id: f for f in picked}

    def replacement(verdict: Verdict) -> str | None:
        if verdict.part == "title":
            return fallback.title
        if verdict.part == "note":
            return template_note(by_id[verdict.item_id or ""])
        return None  # a description sentence is left out

    repaired = settle(verdicts, grounds=grounds, facts=picked, fallback=replacement, model_wrote=repair)
    return assembled(verdicts, picked, fallback), report, verdicts, repaired


def judged(
    picked: list[Facts], retrieved: set[str], answer: CollectionText, *, grounds: Grounds,
    examples: frozenset[str] = frozenset(),
) -> tuple[list[Verdict], Report]:  # fmt: skip
    """A verdict per sentence of the answer's title, description and each picked item's note
    (reused or missing notes included), and the id and safety report."""
    notes = realigned({note.item_id: note.note.strip() for note in answer.notes if note.note.strip()}, picked)
    note_reasons, report = note_problems(notes, picked=picked, retrieved=retrieved, examples=examples)
    title, description = answer.title.strip(), answer.description.strip()
    for part, text in (("title", title), ("description", description)):
        unsafe = hook_problem(text)
        if unsafe:
            report.problems.append(f"{part} {unsafe}")
    verdicts = check(title, part="title", grounds=grounds) + check(description, part="description", grounds=grounds)
    for facts in picked:
        note = notes.get(facts.external_id, "")
        if facts.external_id in note_reasons:
            verdicts.append(Verdict("note", note, "failed", note_reasons[facts.external_id], facts.external_id,
                                    check="reused note"))  # fmt: skip
        elif note:
            verdicts += check(note, part="note", grounds=grounds, item=facts)
        else:
            verdicts.append(Verdict("note", template_note(facts), "replaced", "the model wrote no note for it",
                                    facts.external_id, check="missing"))  # fmt: skip
    return verdicts, report


def assembled(verdicts: list[Verdict], picked: list[Facts], fallback: CollectionText) -> CollectionText:
    """The draft's text from settled verdicts: what was kept, in the picked order; an empty
    description (recorded as replaced) and a missing title or note take the template's words."""
    kept = [v for v in verdicts if v.status != "dropped"]
    described = " ".join(v.text for v in kept if v.part == "description")
    if len(described) < MIN_DESCRIPTION:
        verdicts.append(Verdict("description", fallback.description, "replaced", "no sentence of it passed",
                                check="missing"))  # fmt: skip
        described = fallback.description
    by_note: dict[str, list[str]] = {}
    for verdict in kept:
        if verdict.part == "note" and verdict.item_id:
            by_note.setdefault(verdict.item_id, []).append(verdict.text)
    return CollectionText(
        title=next((v.text for v in kept if v.part == "title" and len(v.text) >= MIN_TITLE), fallback.title),
        description=described[:400],
        notes=[
            Note(item_id=f.external_id, note=" ".join(by_note.get(f.external_id, [])) or template_note(f))
            for f in picked
        ],
    )


def realigned(notes: dict[str, str], picked: list[Facts]) -> dict[str, str]:
    """Notes moved to the item they name: a model that writes "Soldier: action from 1998" under
    the id of the item before Soldier wrote the right note on the wrong id. A note moves only
    when it names exactly one picked item and that item's own note does not name it."""
    by_id = {f.external_id: f for f in picked}
    named = {item_id: {m.facts.external_id for m in mentions(note, picked)} for item_id, note in notes.items()}
    out = dict(notes)
    for item_id, note in notes.items():
        targets = named[item_id]
        if item_id not in by_id or len(targets) != 1 or item_id in targets:
            continue
        (target,) = targets
        if target not in named or target not in named[target]:
            out[target] = note
            if out.get(item_id) == note:
                del out[item_id]
    return out


def ids_only_schema(schema: dict[str, Any] | None, ids: list[str]) -> dict[str, Any] | None:
    """The writer's schema with exactly one note per given item, in the given order, each with
    its `item_id` fixed (`prefixItems` of constants): a grammar-constrained model cannot cite
    anything else, skip an item, give one item two notes, or loop past the last item."""
    if not schema or "notes" not in schema.get("properties", {}):
        return schema
    narrowed = copy.deepcopy(schema)
    notes = narrowed["properties"]["notes"]
    note = notes.get("items", {})
    notes["minItems"] = notes["maxItems"] = len(ids)
    notes["prefixItems"] = [
        {**note, "properties": {**note.get("properties", {}), "item_id": {"const": item_id}}} for item_id in ids
    ]
    # llama.cpp's grammar reads `items` before `prefixItems`: only the fixed ones may stay (and
    # maxItems leaves no room after them).
    notes.pop("items", None)
    return narrowed


def _template_text(theme: str, picked: list[Facts], grounds: Grounds | None = None) -> CollectionText:
    """Words made of catalog facts. With `grounds`, the first of several wordings that passes
    the claim checks (a theme may name a category the items do not have)."""
    counts: dict[str, int] = {}
    for facts in picked:
        for name in facts.categories:
            counts[name] = counts.get(name, 0) + 1
    common = sorted((n for n in counts if counts[n] >= CATEGORY_SHARE * len(picked)), key=lambda n: (-counts[n], n))[:3]
    years = sorted(f.year for f in picked if f.year)
    span = f" from {years[0]} to {years[-1]}" if len(years) > 1 and years[0] != years[-1] else ""
    kinds = f": {', '.join(n.title() for n in common)}" if common else ""
    name = theme.strip()[:1].upper() + theme.strip()[1:80]
    titles = [name if len(name) >= 3 else f"Picks: {name}"] + ([f"{common[0].title()} picks"] if common else [])
    descriptions = [f"{len(picked)} picks for {theme.strip()}{span}{kinds}.", f"{len(picked)} picks{span}{kinds}.",
                    f"{len(picked)} picks{span}."]  # fmt: skip
    return CollectionText(
        title=_first_passing([*titles, "Our picks"], "title", grounds)[:80],
        description=_first_passing(descriptions, "description", grounds)[:400],
        notes=[Note(item_id=f.external_id, note=template_note(f)) for f in picked],
    )


def _first_passing(candidates: list[str], part: str, grounds: Grounds | None) -> str:
    if grounds is None:
        return candidates[0]
    for text in candidates:
        if all(v.status == "passed" for v in check(text, part=part, grounds=grounds)):
            return text
    return candidates[-1]


@transaction.atomic
def _draft_store(
    brief: Brief,
    audience: Audience,
    picked: list[Scored],
    facts: dict[int, Facts],
    scored: list[Scored],
    written: Written,
    span: Trace,
    fit: Fit,
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
        evidence={**_evidence(scored, facts, written), "coherence": fit.as_json()},
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
        "claims": [verdict.as_json() for verdict in written.verdicts],
        "faithfulness": summary(written.verdicts, written.repair),
        "variables": written.variables,
        "model_error": written.model_error,
    }
