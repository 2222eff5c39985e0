"""From a brief to a draft on the small shop, with the real local model; the checks on its
words; and the property that nothing outside the catalog ever reaches a collection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from curation.checks import Facts, facts_of, note_problems
from curation.claims import check
from curation.coherence import cohere, theme_decades
from curation.faithfulness import grounds_for
from curation.models import Brief, Draft
from curation.pipeline import brief_queue, brief_run, ids_only_schema, realigned
from curation.schemas import Audience
from curation.segments import themes_propose
from recsys_app.catalog.models import Item
from recsys_app.llmops.models import Trace
from recsys_app.ranking.blend import Scored
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
    grounds = grounds_for(list(facts.values()), context=brief.theme)
    for note, entry in zip(draft.content["notes"], items, strict=True):  # every sentence left passes
        assert all(v.status == "passed" for v in check(note["note"], part="note", grounds=grounds,
                                                       item=facts[entry.item_id])), note  # fmt: skip
    assert all(v.status == "passed" for v in check(draft.content["title"], part="title", grounds=grounds))
    assert all(v.status == "passed" for v in check(draft.content["description"], part="description", grounds=grounds))
    claims = draft.evidence["claims"]
    if draft.writer == "model":  # the small model's answer, sentence by sentence
        assert {c["part"] for c in claims} >= {"title", "note"} and draft.evidence["faithfulness"]["sentences"]
        assert all(c["reason"] for c in claims if c["status"] != "passed"), "every change says why"
    assert draft.evidence["coherence"]["kept"] >= 3
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


def test_the_writer_schema_fixes_one_note_per_picked_item_in_order() -> None:
    schema = {"type": "object", "properties": {"notes": {"type": "array", "items": {"type": "object"}}}}
    narrowed = ids_only_schema(schema, ["a", "b"])
    assert narrowed is not None and schema != narrowed
    notes = narrowed["properties"]["notes"]
    assert notes["minItems"] == notes["maxItems"] == 2
    assert [n["properties"]["item_id"] for n in notes["prefixItems"]] == [{"const": "a"}, {"const": "b"}]
    assert "items" not in notes, "llama.cpp's grammar would read `items` instead of the fixed ones"


PICKED = [
    Facts("film-1", "Alien", 1979, Decimal("9.99"), "Horror", frozenset({"horror"})),
    Facts("film-2", "Heat", 1995, None, "Crime", frozenset({"crime", "thriller"})),
]


@pytest.mark.django_db
def test_notes_on_unknown_ids_go_and_reused_or_unsafe_ones_are_named(films: list[Item]) -> None:
    reasons, report = note_problems(
        {"film-1": "A gem.", "film-2": "a gem. ", "film-9": "Not retrieved", "film-3": "x"},
        picked=PICKED, retrieved={"film-1", "film-2", "film-3"},
    )  # fmt: skip
    assert reasons == {"film-1": "is the same note as 1 other item(s) get", "film-2": "is the same note as 1 other "
                       "item(s) get"}  # fmt: skip
    dropped = {d["item_id"]: d["reason"] for d in report.dropped}
    assert "not retrieved" in dropped["film-9"] and "not in the collection" in dropped["film-3"]
    slasher = "The slasher that started it all."
    copied, _ = note_problems({"film-1": slasher}, picked=PICKED, retrieved={"film-1"},
                              examples=frozenset({slasher.lower()}))  # fmt: skip
    assert copied == {"film-1": "copies a note of the prompt's worked examples"}
    _, unsafe = note_problems({"film-1": "See www.example.com"}, picked=PICKED, retrieved={"film-1"})
    assert unsafe.problems == ["note on film-1 contains a link or an address ('www.')"]


def test_a_note_written_under_the_wrong_id_moves_to_the_item_it_names() -> None:
    shifted = {"film-1": "Heat: crime from 1995.", "film-2": "A night of horror."}
    assert realigned(shifted, PICKED) == {"film-2": "Heat: crime from 1995."}
    assert realigned({"film-1": "Alien and Heat."}, PICKED) == {"film-1": "Alien and Heat."}, "two names: stays"


def test_a_collection_keeps_only_items_that_fit_its_theme_and_each_other(world: World) -> None:
    ids = {i.external_id: i.pk for i in Item.objects.all()}
    order = [f"coffee-{n}" for n in range(5)] + [f"knives-{n}" for n in range(5)] + ["tents-0", "tents-1"]
    scored = [Scored(ids[e], 1.0 - n / 20, {"lexical": 1.0}) for n, e in enumerate(order)]
    facts = facts_of(ids.values())
    fit = cohere(scored, facts, theme="coffee at home")
    kept = {facts[e.item_id].external_id for e in fit.kept}
    assert fit.dominant == ["coffee"] and kept <= {f"coffee-{n}" for n in range(5)} and len(kept) >= 4
    assert all(ids[e] in fit.left_out for e in order if not e.startswith("coffee")), "every other item says why"
    assert "is not coffee, which the collection's closest items are" in fit.left_out.values()
    assert theme_decades("crime films of the 1990s") == [1990] and theme_decades("the eighties and '70s") == [
        1970,
        1980,
    ]
