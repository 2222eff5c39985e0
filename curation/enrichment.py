"""Enrichment: tags and a short description for items with thin metadata, drafted by jobs that
operators start (console action, API) or the beat starts for new thin items, and reviewed like
collections before anything changes an item.

One item's draft, grounded in the catalog (RAG): the model sees the item's own fields and its
nearest catalog neighbours (by embedding); it may pick tags only from the item's own and those
most of its neighbours share, and its description is checked sentence by sentence against the
item's facts (`claims.py`), repaired once, else replaced by catalog-fact words. The item's text
passes the input guardrails first: text that tries to instruct the model fails the draft, with
the verdict, and no model sees it.

A job has a budget of items and tokens, reports progress to the job monitor, and drafts each
item once per prompt version (`Draft` holds a unique constraint on item and version).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from pydantic import ValidationError

from curation.checks import Facts, facts_of, hook_problem
from curation.claims import Verdict, check
from curation.faithfulness import Repair, first_try_clean, grounds_for, settle, summary
from curation.models import Draft, EnrichmentJob
from curation.schemas import EnrichmentBudget, EnrichmentFilter, EnrichmentText, parsed
from recsys_app.catalog.models import Item
from recsys_app.lib.titles import display_title
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import PromptVersion, Trace
from recsys_app.llmops.prompts import PromptError, version_for
from recsys_app.llmops.tracing import trace_span
from recsys_app.ops.tasking import task_progress
from recsys_app.safety.guardrails import described, failed, guard_text

ENRICHMENT_PROMPT = "item_enrichment"
TAG = re.compile(r"^[a-z0-9][a-z0-9 &'-]{1,29}$")
NEIGHBOURS = 5  # catalog items shown to the model as context
NEIGHBOUR_TAG_SHARE = 0.8  # a tag nearly all neighbours carry may be suggested (the reviewer sees where from)
MIN_DESCRIPTION = 10


# --- Jobs ---------------------------------------------------------------------------------


def enrichment_job_create(
    *, filter: dict[str, Any], budget: dict[str, Any], origin: str, by: Any = None
) -> EnrichmentJob:
    """A queued job (its task is sent when the transaction commits); ValueError names a bad field."""
    chosen = parsed(EnrichmentFilter, filter, where="filter")
    spend = parsed(EnrichmentBudget, budget, where="budget")
    job = EnrichmentJob.objects.create(
        filter=chosen.model_dump(mode="json", exclude_defaults=True), budget_items=spend.items,
        budget_tokens=spend.tokens, origin=origin, created_by=by if by is not None and by.pk else None,
    )  # fmt: skip
    transaction.on_commit(partial(_queue, job.pk))
    return job


def _queue(job_id: int) -> None:
    from curation.tasks import enrichment_job_run_task

    enrichment_job_run_task.delay(job_id)


def enrichment_items(*, chosen: EnrichmentFilter, version: PromptVersion | None, limit: int) -> QuerySet[Item]:
    """Available items the filter selects that no enrichment draft of this prompt version covers,
    most popular first (where enrichment pays off soonest)."""
    items = Item.objects.filter(is_available=True)
    if chosen.item_ids:
        items = items.filter(external_id__in=chosen.item_ids)
    if chosen.category:
        items = items.filter(category_path__startswith=chosen.category)
    if chosen.thin_only:
        items = items.filter(Q(description="") | Q(tags__len__lt=2))
    if chosen.created_after:
        items = items.filter(created_at__gte=chosen.created_after)
    covered = Draft.objects.filter(kind=Draft.Kind.ENRICHMENT, prompt_version=version).values("item_id")
    return (
        items.exclude(pk__in=covered)
        .annotate(popularity=Coalesce("stats__popularity", 0.0))
        .order_by("-popularity", "pk")[:limit]
    )


def enrichment_job_run(*, job_id: int, task_id: str = "") -> EnrichmentJob | None:
    """Draft the job's items one by one until its items or tokens run out. Claimed once: a
    second delivery of the same task resumes a run its killed worker left; others stop."""
    mine = Q(status=EnrichmentJob.Status.QUEUED) | (Q(status=EnrichmentJob.Status.RUNNING, claimed_by=task_id)
                                                    if task_id else Q(pk__in=[]))  # fmt: skip
    if not EnrichmentJob.objects.filter(mine, pk=job_id).update(status=EnrichmentJob.Status.RUNNING,
                                                                  claimed_by=task_id):  # fmt: skip
        return None
    job = EnrichmentJob.objects.get(pk=job_id)
    try:
        _run(job)
    except Exception as exc:
        _finish(job, EnrichmentJob.Status.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    return job


def _run(job: EnrichmentJob) -> None:
    try:
        version: PromptVersion | None = version_for(prompt_name=ENRICHMENT_PROMPT)
    except PromptError:
        version = None
    job.prompt_version = version
    chosen = EnrichmentFilter.model_validate(job.filter)
    remaining = max(job.budget_items - job.drafted, 0)
    items = list(enrichment_items(chosen=chosen, version=version, limit=remaining))
    job.selected = job.drafted + len(items)
    job.save(update_fields=["prompt_version", "selected"])
    for n, item in enumerate(items, start=1):
        if job.tokens_used >= job.budget_tokens:
            _finish(job, EnrichmentJob.Status.BUDGET, f"{job.tokens_used} tokens used of {job.budget_tokens}")
            return
        try:
            draft = enrichment_draft_create(item=item, version=version, job=job)
        except IntegrityError:  # another job drafted this item for this version meanwhile
            continue
        job.drafted += 1
        job.failed_items += draft.status == Draft.Status.FAILED
        job.tokens_used += _tokens(draft)
        job.save(update_fields=["drafted", "failed_items", "tokens_used"])
        task_progress(n, len(items), f"{job.drafted} drafted, {job.tokens_used} tokens")
    _finish(job, EnrichmentJob.Status.DONE, "" if items else "no item matched that had no draft of this version")


def _finish(job: EnrichmentJob, status: str, reason: str) -> None:
    job.status, job.status_reason, job.finished_at = status, reason[:2000], timezone.now()
    job.save(update_fields=["status", "status_reason", "finished_at"])


def _tokens(draft: Draft) -> int:
    if draft.trace_id is None:
        return 0
    spent = Trace.objects.filter(root_id=draft.trace_id, kind=Trace.Kind.LLM).aggregate(
        total=Sum("tokens_in") + Sum("tokens_out")
    )
    return int(spent["total"] or 0)


def new_thin_items_job() -> EnrichmentJob | None:
    """Beat: a job for thin items added lately that no draft covers, unless one is under way."""
    active = EnrichmentJob.objects.filter(
        origin=EnrichmentJob.Origin.BEAT, status__in=[EnrichmentJob.Status.QUEUED, EnrichmentJob.Status.RUNNING]
    )
    if active.exists():
        return None
    since = timezone.now() - settings.ENRICHMENT_NEW_ITEMS_WINDOW
    chosen = EnrichmentFilter(created_after=since)
    try:
        version: PromptVersion | None = version_for(prompt_name=ENRICHMENT_PROMPT)
    except PromptError:
        version = None
    if not enrichment_items(chosen=chosen, version=version, limit=1).exists():
        return None
    budget = {"items": settings.ENRICHMENT_BEAT_ITEMS, "tokens": settings.ENRICHMENT_BEAT_TOKENS}
    return enrichment_job_create(filter=chosen.model_dump(mode="json"), budget=budget,
                                 origin=EnrichmentJob.Origin.BEAT)  # fmt: skip


# --- One item's draft -----------------------------------------------------------------------


def enrichment_draft_create(*, item: Item, version: PromptVersion | None = None, job: EnrichmentJob | None = None
                            ) -> Draft:  # fmt: skip
    with trace_span(f"enrichment of {item.external_id}", item=item.external_id) as span:
        facts = facts_of([item.pk])[item.pk]
        neighbours = neighbours_of(item.pk)
        vocabulary, suggested = tag_vocabulary(facts, neighbours)
        variables = _variables(item, facts, neighbours, vocabulary)
        refused = _refused_input(item)
        if refused:
            written = Written(_template(facts, neighbours), "template", False, refused)
        else:
            written = _write(variables, facts, neighbours, vocabulary, version)
    evidence = {
        "variables": variables, "source_text": variables.get("text", ""),
        "neighbours": [{"item_id": n.external_id, "title": n.title} for n in neighbours],
        "tags_from_neighbours": sorted(suggested), "claims": [v.as_json() for v in written.verdicts],
        "faithfulness": summary(written.verdicts, written.repair) if written.repair is not None else {},
    }  # fmt: skip
    return _store(item, written, evidence, span, version, job)


@dataclass
class Written:
    text: EnrichmentText
    writer: str  # model | template
    first_try: bool
    problem: str  # why the draft fails (a safety hook, the input guardrails), or ""
    completion: Any = None
    verdicts: list[Verdict] = field(default_factory=list)
    repair: Repair | None = None


def neighbours_of(item_id: int, k: int = NEIGHBOURS) -> list[Facts]:
    """The item's nearest catalog neighbours by embedding: the retrieved context."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.item_id FROM retrieval_itemembedding e JOIN catalog_item i ON i.id = e.item_id "
            "WHERE e.model_name = %s AND e.item_id <> %s AND i.is_available "
            "ORDER BY e.vector <=> (SELECT vector FROM retrieval_itemembedding WHERE item_id = %s AND model_name = %s) "
            "LIMIT %s",
            [settings.EMBEDDING_MODEL, item_id, item_id, settings.EMBEDDING_MODEL, k],
        )
        ids = [row[0] for row in cursor.fetchall()]
    found = facts_of(ids)
    return [found[i] for i in ids if i in found]


def tag_vocabulary(facts: Facts, neighbours: list[Facts]) -> tuple[list[str], set[str]]:
    """Tags the model may pick: the item's own category levels and tags, and tags most of its
    neighbours share (returned apart, so the reviewer sees which came from the neighbourhood)."""
    own = {level.lower() for level in facts.category.split("/") if level} | set(facts.categories)
    counts: dict[str, int] = {}
    for neighbour in neighbours:
        for tag in neighbour.categories:
            counts[tag] = counts.get(tag, 0) + 1
    suggested = {t for t, c in counts.items() if neighbours and c >= NEIGHBOUR_TAG_SHARE * len(neighbours)} - own
    vocabulary = sorted(t for t in own | suggested if TAG.match(t))
    return vocabulary or ["uncategorised"], suggested


def _variables(item: Item, facts: Facts, neighbours: list[Facts], vocabulary: list[str]) -> dict[str, Any]:
    known = [item.description[:500]] if item.description else []
    known += [f"{key}: {value}" for key, value in facts.attributes.items()]
    out: dict[str, Any] = {"title": display_title(item.title), "vocabulary": vocabulary,
                           "neighbours": [_line(n) for n in neighbours]}  # fmt: skip
    if facts.year:
        out["year"] = facts.year
    if facts.categories or item.category_path:
        out["category"] = ", ".join(sorted(c.title() for c in facts.categories)) or item.category_path
    if item.price is not None:
        out["price"] = f"{item.price} {item.currency}".strip()
    if known:
        out["text"] = "; ".join(known)
    return out


def _line(facts: Facts) -> str:
    parts = [display_title(facts.title), *([str(facts.year)] if facts.year else [])]
    return " | ".join([*parts, ", ".join(sorted(c.title() for c in facts.categories))])


def _refused_input(item: Item) -> str:
    """The item's own text through the input guardrails: instructions hidden in catalog text
    (or toxic text) never reach the model."""
    text = " ".join([item.title, item.description, *(str(v) for v in (item.attributes or {}).values()
                                                     if isinstance(v, str))])  # fmt: skip
    verdicts = guard_text(text).verdicts
    refused = [v for v in failed(verdicts) if v["action"] == "block" or v["guardrail"] == "injection"]
    return f"the item's text was refused by the guardrail chain ({described(refused)})" if refused else ""


def _write(variables: dict[str, Any], facts: Facts, neighbours: list[Facts], vocabulary: list[str],
           version: PromptVersion | None) -> Written:  # fmt: skip
    try:
        chosen = version or version_for(prompt_name=ENRICHMENT_PROMPT)
        completion = llm_complete(
            prompt=ENRICHMENT_PROMPT,
            number=chosen.number,
            variables=variables,
            output_schema=tags_only_schema(chosen.output_schema, vocabulary),
            use_cache=False,
        )  # fmt: skip  (a new attempt)
        answer = EnrichmentText.model_validate(completion.parsed)
    except (LLMError, PromptError, ValidationError):
        return Written(_template(facts, neighbours), "template", False, "")
    tags = [tag for tag in clean_tags(answer.tags) if tag in vocabulary] or _template(facts, neighbours).tags
    # The neighbours are items the description may name ("similar to …"); what it says of them
    # is checked against their own facts.
    grounds = grounds_for([facts, *neighbours], prompt=completion.version)
    verdicts = check(answer.description.strip(), part="note", grounds=grounds, item=facts)
    first_try = first_try_clean(verdicts) and not completion.trace.attributes.get("repaired")
    template = _template(facts, neighbours)
    repaired = settle(verdicts, grounds=grounds, facts=[facts], fallback=lambda verdict: None)  # a failed sentence goes
    description = " ".join(v.text for v in verdicts if v.status != "dropped")
    if len(description) < MIN_DESCRIPTION:
        verdicts.append(Verdict("note", template.description, "replaced", "no sentence of it passed",
                                facts.external_id))  # fmt: skip
        description = template.description
    problem = hook_problem(description) or ""
    text = EnrichmentText(tags=tags, description=description[:400])
    return Written(text, "model", first_try, problem, completion, verdicts, repaired)


def tags_only_schema(schema: dict[str, Any] | None, vocabulary: list[str]) -> dict[str, Any] | None:
    """The enrichment schema with tags narrowed to the vocabulary: a grammar-constrained model
    cannot tag an item with a word the catalog does not support."""
    if not schema or "tags" not in schema.get("properties", {}):
        return schema
    narrowed = copy.deepcopy(schema)
    tags = narrowed["properties"]["tags"]
    tags["items"] = {"enum": vocabulary}
    tags["maxItems"] = min(int(tags.get("maxItems", 6)), len(vocabulary))
    tags["minItems"] = min(int(tags.get("minItems", 1)), len(vocabulary))
    return narrowed


def clean_tags(tags: list[str]) -> list[str]:
    cleaned = (tag.strip().lower() for tag in tags)
    return list(dict.fromkeys(tag for tag in cleaned if TAG.match(tag)))[:8]


def _template(facts: Facts, neighbours: list[Facts] | None = None) -> EnrichmentText:
    """Words made of catalog facts: the item's categories, year and price, and the neighbours it
    is like (true by construction: they are its nearest items)."""
    levels = [level.lower() for level in facts.category.split("/") if level]
    tags = clean_tags(levels + sorted(facts.categories)) or ["uncategorised"]
    kinds = ", ".join(sorted(c.title() for c in facts.categories)) or (facts.category.split("/")[0] or "Catalog")
    description = f"{display_title(facts.title)}: {kinds}" + (f" from {facts.year}" if facts.year else "") + "."
    if neighbours:
        description += f" Similar to {' and '.join(display_title(n.title) for n in neighbours[:2])}."
    return EnrichmentText(tags=tags, description=description if len(description) >= MIN_DESCRIPTION else
                          f"{description} Item.")  # fmt: skip


@transaction.atomic
def _store(item: Item, written: Written, evidence: dict[str, Any], span: Any, version: PromptVersion | None,
           job: EnrichmentJob | None) -> Draft:  # fmt: skip
    Item.objects.select_for_update().filter(pk=item.pk).first()  # numbers an item's drafts one at a time
    number = (Draft.objects.filter(item=item).aggregate(top=Max("number"))["top"] or 0) + 1
    content = written.text.model_dump()
    completion = written.completion
    with transaction.atomic():  # a unique clash (another job, same version) rolls back only this insert
        return Draft.objects.create(
            kind=Draft.Kind.ENRICHMENT,
            item=item,
            number=number,
            status=Draft.Status.FAILED if written.problem else Draft.Status.PENDING_REVIEW,
            failure_reason=written.problem,
            generated=content,
            content=content,
            writer=written.writer,
            first_try_grounded=written.first_try,
            evidence=evidence,
            prompt_version=completion.version if completion is not None else version,
            job=job,
            trace=span,
            model=completion.trace.model if completion is not None else "",
        )
