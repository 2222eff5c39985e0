"""From a brief to a draft on the small shop, with the real local model; the checks on its
words; and the property that nothing outside the catalog ever reaches a collection."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.checks import Facts, check_collection, fact_problem, facts_of
from curation.models import Brief, Draft
from curation.pipeline import brief_queue, brief_run, compose, ids_only_schema
from curation.schemas import Audience, CollectionText, Note
from curation.segments import themes_propose
from recsys_app.catalog.models import Item
from recsys_app.llmops.models import Trace
from tests.world import World


def _brief(theme: str, **constraints: object) -> Brief:
    brief = Brief.objects.create(theme=theme, constraints=constraints)
    return brief_queue(brief=brief)


def test_a_brief_becomes_a_grounded_draft_with_its_evidence(world: World, llm: None) -> None:
    brief = _brief("coffee at home", category="Kitchen", min_items=3, max_items=5)
    outcome = brief_run(brief_id=brief.pk)
    brief.refresh_from_db()
    assert brief.status == Brief.Status.DRAFTED, brief.status_reason
    draft = Draft.objects.get(pk=outcome.draft_id)
    assert draft.status in (Draft.Status.PENDING_REVIEW, Draft.Status.FAILED)
    items = list(draft.items.select_related("item"))
    assert 3 <= len(items) <= 5 and all(e.item.category_path.startswith("Kitchen") for e in items)
    assert [n["item_id"] for n in draft.content["notes"]] == [e.item.external_id for e in items]
    facts = facts_of([e.item_id for e in items])
    for note, entry in zip(draft.content["notes"], items, strict=True):
        assert fact_problem(note["note"], [facts[entry.item_id]]) is None, note
    retrieved = {row["item_id"] for row in draft.evidence["retrieved"]}
    assert {e.item_id for e in items} <= retrieved
    assert draft.trace is not None and draft.trace.kind == Trace.Kind.SPAN
    calls = Trace.objects.filter(root_id=draft.trace.pk, name="collection_writer")
    assert calls.exists(), "the writer's call sits in the run's trace tree"
    if draft.writer == "model":
        assert draft.prompt_version is not None and draft.prompt_version.prompt_id == "collection_writer"


def test_a_brief_that_retrieves_too_little_ends_without_a_draft(world: World, llm: None) -> None:
    brief = _brief("coffee at home", category="Kitchen", price_max="1.00")
    outcome = brief_run(brief_id=brief.pk)
    brief.refresh_from_db()
    assert outcome.draft_id is None and brief.status == Brief.Status.NO_MATCH
    assert brief.status_reason == "found 0 item(s) matching the theme and constraints; at least 5 needed"
    assert not Draft.objects.exists()


def test_bad_constraints_fail_the_brief_naming_the_field(world: World) -> None:
    brief = _brief("coffee", price_min="-1")
    with pytest.raises(ValueError, match="constraints: price_min: Input should be greater than or equal to 0"):
        brief_run(brief_id=brief.pk)
    brief.refresh_from_db()
    assert brief.status == Brief.Status.FAILED and "price_min" in brief.status_reason


def test_a_brief_runs_once_per_queueing(world: World) -> None:
    brief = Brief.objects.create(theme="coffee")
    assert brief_run(brief_id=brief.pk).status == "skipped"
    brief_queue(brief=brief)
    with pytest.raises(Exception, match="already queued or running"):
        brief_queue(brief=brief)


def test_a_redelivered_task_takes_up_the_brief_its_killed_run_left_running(world: World) -> None:
    """A worker killed mid-run leaves the brief `running` under its task id; acks_late hands the
    same message (same id) to the next worker, which may resume; another task may not."""
    brief = Brief.objects.create(theme="coffee", status=Brief.Status.RUNNING, claimed_by="task-1")
    assert brief_run(brief_id=brief.pk, task_id="task-2").status == "skipped"
    assert brief_run(brief_id=brief.pk).status == "skipped"
    assert brief_run(brief_id=brief.pk, task_id="task-1").draft_id is not None
    brief.refresh_from_db()
    assert brief.status == Brief.Status.DRAFTED and brief.drafts.count() == 1
    assert brief_run(brief_id=brief.pk, task_id="task-1").status == "skipped", "a finished brief is not run again"


def test_proposed_themes_come_from_clusters_of_what_the_audience_likes(world: World) -> None:
    briefs = themes_propose(audience=Audience(), count=2)
    assert len(briefs) == 2 and all(b.origin == Brief.Origin.PROPOSED and b.seed_items for b in briefs)
    seeds = Item.objects.filter(pk__in=briefs[0].seed_items)
    assert seeds.count() == len(briefs[0].seed_items)
    assert "trending with everyone" in briefs[0].theme


def test_the_writer_schema_allows_only_the_picked_ids() -> None:
    schema = {"type": "object", "properties": {"notes": {"type": "array", "items": {"type": "object"}}}}
    narrowed = ids_only_schema(schema, ["a", "b"])
    assert narrowed is not None and schema != narrowed
    notes = narrowed["properties"]["notes"]
    assert notes["minItems"] == notes["maxItems"] == 2 and notes["items"]["properties"]["item_id"] == {
        "enum": ["a", "b"]
    }


PICKED = [
    Facts("film-1", "Alien", 1979, Decimal("9.99"), "Horror", frozenset({"horror"})),
    Facts("film-2", "Heat", 1995, None, "Crime", frozenset({"crime", "thriller"})),
]


@pytest.mark.django_db
def test_checks_drop_unknown_ids_and_wrong_facts_and_fail_unsafe_text(films: list[Item]) -> None:
    checked = check_collection(
        title="Night of Horror", description="Films from 1979 and 1995.",
        notes={"film-1": "Only €3.00 today", "film-2": "A crime epic.", "film-9": "Not retrieved", "film-3": "x"},
        picked=PICKED, retrieved={"film-1", "film-2", "film-3"},
    )  # fmt: skip
    assert checked.notes == {"film-2": "A crime epic."}
    reasons = {d["item_id"]: d["reason"] for d in checked.report.dropped}
    assert reasons["film-1"] == "states the price 3.00, which no item in it has"
    assert "not retrieved" in reasons["film-9"] and "not in the collection" in reasons["film-3"]
    assert checked.title == "Night of Horror" and not checked.report.problems
    twice = check_collection(title="Night", description="Two films.", notes={"film-1": "A gem.", "film-2": "a gem. "},
                             picked=PICKED, retrieved={"film-1", "film-2"})  # fmt: skip
    assert twice.notes == {} and twice.report.dropped[0]["reason"] == "the same note is given to 2 items"
    slasher = "The slasher that started it all."
    copied = check_collection(title="Night", description="Two films.", notes={"film-1": slasher}, picked=PICKED,
                              retrieved={"film-1"}, examples=frozenset({slasher.lower()}))  # fmt: skip
    assert copied.notes == {} and copied.report.dropped[0]["reason"] == "copies a note of the prompt's worked examples"
    unsafe = check_collection(title="See www.example.com", description="Films from 1980.", notes={}, picked=PICKED,
                              retrieved=set())  # fmt: skip
    assert unsafe.report.problems == ["title contains a link or an address ('www.')"]
    tagged = check_collection(title="<data>Night</data>", description="Two films.", notes={}, picked=PICKED,
                              retrieved=set())  # fmt: skip
    assert tagged.title is None and not tagged.report.problems, "markup drops the part, it does not fail the draft"
    assert unsafe.description is None, "a wrong year drops the description"


_ids = st.sampled_from(["film-1", "film-2", "film-3", "ghost", "", "film-1 "])
_words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_claims = st.sampled_from(
    ["", " from 1979", " from 1988", " for $9.99", " for €1.00", " a horror gem", " a crime epic"]
)
_notes = st.lists(st.builds(lambda i, w, c: Note(item_id=i, note=w + c), _ids, _words, _claims), max_size=6)


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=_notes, title_claim=_claims)
def test_no_composed_collection_names_anything_outside_the_picked_catalog_items(
    films: list[Item], notes: list[Note], title_claim: str
) -> None:
    answer = CollectionText(
        title="Picks" + title_claim, description="A few films for tonight" + title_claim, notes=notes
    )
    text, _ = compose("movie night", PICKED, {"film-1", "film-2", "film-3"}, answer)
    assert [n.item_id for n in text.notes] == ["film-1", "film-2"], "every picked item once, nothing else"
    by_id = {f.external_id: f for f in PICKED}
    for note in text.notes:
        assert fact_problem(note.note, [by_id[note.item_id]]) is None
    assert fact_problem(text.title, PICKED) is None and fact_problem(text.description, PICKED) is None
