"""Claim-level checks of generated sentences, on adversarial sentences of the kinds small models
write (facts of one item given to another, invented names, plots and awards, counts that do not
add up, copies of the prompt, loops, placeholders), and the property that whatever a model
answers, every sentence of the composed draft passes them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.checks import Facts
from curation.claims import Grounds, check, mentions, prompt_ngrams, sentence_problem, sentences
from curation.pipeline import compose
from curation.schemas import CollectionText, Note
from recsys_app.catalog.models import Item
from recsys_app.lib.titles import display_title

ALIEN = Facts("film-1", "Alien", 1979, Decimal("9.99"), "Horror", frozenset({"horror", "sci-fi"}))
SHINING = Facts("film-2", "Shining, The", 1980, Decimal("7.50"), "Horror", frozenset({"horror"}))
HALLOWEEN = Facts("film-3", "Halloween", 1978, Decimal("5.00"), "Horror", frozenset({"horror"}))
HEAT = Facts("film-4", "Heat", 1995, Decimal("8.00"), "Crime", frozenset({"crime", "thriller"}))
FILMS = [ALIEN, SHINING, HALLOWEEN, HEAT]


def grounds(items: list[Facts] = FILMS, **fields: object) -> Grounds:
    fields.setdefault("newest_year", 2016)
    return Grounds(items=items, context="a night of scares", **fields)  # type: ignore[arg-type]


def problem(sentence: str, part: str = "description", item: Facts | None = None, **fields: object) -> str | None:
    return sentence_problem(sentence, part=part, grounds=grounds(**fields), item=item)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sentence", "item", "expected"),
    [
        # A year belongs to the item it is written beside, not to the list.
        ("Heat (1979) is a crime thriller.", None, "gives the year 1979 to 'Heat', whose year is 1995"),
        ("Horror and crime from 1994.", None, "states the year 1994, which none of the 4 items it is about have"),
        ("A crime thriller from 1979.", HEAT, "states the year 1979, which none of the 1 item it is about have"),
        ("Films from 1978 to 1995.", None, None),
        ("Horror from 1980.", None, "dates it 1980, which fits only 1 of the 4 items it is about"),
        # Decades, counts and categories hold for most of a collection, or for the note's item.
        (
            "A crime thriller from the 1980s.",
            HEAT,
            "places it in the 1980s, where none of the 1 item it is about are from",
        ),
        ("Horror from the late 70s and early 80s.", None, None),
        ("Two films for tonight.", None, "says 'Two films', but the collection has 4 items"),
        ("Four films for a night of scares.", None, None),
        ("A horror classic.", HEAT, "calls it 'horror', a category none of the 1 item it is about have"),
        ("Thrillers for a dark night.", None, "describes the collection as thriller, which fits only 1 of the 4 items"),
        ("Three horror films and one crime thriller.", None, None),
        ("Two horror films and one crime thriller.", None, "counts 2 horror, but 3 of the 4 items are"),
        # Names, plots, cast, awards, quality and popularity need a source.
        (
            "It stars Tom Hanks as a detective.",
            HEAT,
            "names 'Tom', which none of its items, the theme or the context has",
        ),
        ("A film called Partly Cloudy.", None, "names 'Partly', which none of its items, the theme or the context has"),
        (
            "An award-winning crime thriller.",
            HEAT,
            "makes a award claim ('award-winning') that nothing in its items' data supports",
        ),
        (
            "He must stop a killer before dawn.",
            HEAT,
            "makes a plot claim ('he') that nothing in its items' data supports",
        ),
        (
            "A popular crime thriller.",
            HEAT,
            "makes a popularity claim ('popular') that nothing in its items' data supports",
        ),
        ("Heat is a classic.", None, "calls it 'classic', but none of the 1 item it is about are 25+ years old"),
        # Residue, loops and copies.
        ("[Title] is a horror film.", None, "is template residue ('[Title]')"),
        ("{{ title }} from 1979.", ALIEN, "is template residue ('{{')"),
        ("A pick like item 3 from the list.", None, "is template residue ('item 3')"),
        ("You liked Alien, and Heat, and you liked Alien.", None, "names 'Alien' twice (a loop)"),
        ("Horror films and more horror films.", None, "repeats 'horror films' (a loop)"),
        ("Horror from the 1996s.", None, "writes '1996s', which is no decade"),
        ("Horror 恐怖 night.", None, "switches to another script ('恐怖')"),
    ],
)
def test_each_sentence_is_judged_by_the_facts_of_the_items_it_is_about(
    films: list[Item], sentence: str, item: Facts | None, expected: str | None
) -> None:
    assert problem(sentence, item=item) == expected


@pytest.mark.django_db
def test_sources_other_than_the_words_support_claims(films: list[Item]) -> None:
    assert problem("A popular crime thriller.", item=HEAT, popular=frozenset({"film-4"})) is None
    assert sentence_problem("Halloween is a classic.", part="description", grounds=grounds()) is None
    assert "classic" in (problem("Halloween is a classic.", newest_year=1995) or "")
    described = Facts("film-4", "Heat", 1995, None, "Crime", frozenset({"crime"}), "a detective hunts a thief")
    assert sentence_problem("A detective story.", part="note", grounds=grounds([described]), item=described) is None


@pytest.mark.django_db
def test_copies_of_the_prompt_and_titles_that_list_items_are_refused(films: list[Item]) -> None:
    copied = prompt_ngrams("A haunted hotel and a slow descent.")
    assert problem("A haunted hotel and a slow descent into horror.", prompt_ngrams=copied) == (
        "copies the prompt ('a haunted hotel and')"
    )
    facts_only = prompt_ngrams("Alien: Horror and Sci-Fi from 1979.")  # a worked note made of facts
    assert problem("Alien: Horror and Sci-Fi from 1979.", item=ALIEN, prompt_ngrams=facts_only) is None
    assert problem("Alien and Heat", part="title") == "lists items instead of naming what they share"
    assert problem("Night Of Horror Picks", part="title") is None, "title case is not a name"


@pytest.mark.django_db
def test_attribute_values_belong_to_their_item(films: list[Item]) -> None:
    jacket = Facts("j-1", "Rain jacket", None, None, "Outdoor", frozenset({"outdoor"}), attributes={"color": "blue"})
    fields = {"attribute_values": {"red": "color", "blue": "color"}}
    assert sentence_problem("A red rain jacket.", part="note", grounds=grounds([jacket], **fields), item=jacket) == (
        "says color 'red', which none of the 1 item it is about have"
    )
    assert (
        sentence_problem("A blue rain jacket.", part="note", grounds=grounds([jacket], **fields), item=jacket) is None
    )


def test_titles_are_found_in_the_forms_writers_use() -> None:
    fly = Facts("f", "Fly, The", 1986, None, "Horror", frozenset({"horror"}))
    love = Facts("l", "Love Story", 1970, None, "Drama", frozenset({"drama"}))
    wrist = Facts("w", "Wristcutters: A Love Story", 2006, None, "Drama", frozenset({"drama"}))
    assert display_title("Fly, The") == "The Fly"
    assert [m.facts.external_id for m in mentions("The Fly and Fly, The", [fly])] == ["f", "f"]
    assert [m.facts.external_id for m in mentions("Wristcutters: A Love Story is not Love Story", [love, wrist])] == [
        "w",
        "l",
    ]
    smith = Facts("s", "Mr. Smith Goes to Washington", 1939, None, "Drama", frozenset({"drama"}))
    assert sentences("Mr. Smith Goes to Washington is here. Then another.", [smith]) == [
        "Mr. Smith Goes to Washington is here.",
        "Then another.",
    ]


@pytest.mark.django_db
def test_a_year_like_title_is_a_title(films: list[Item]) -> None:
    war = Facts("w", "1941", 1979, None, "Comedy", frozenset({"comedy", "war"}))
    assert sentence_problem("1941: Comedy and War from 1979.", part="note", grounds=grounds([war]), item=war) is None


_fragments = st.sampled_from(
    [
        "Heat (1979) is a horror film.", "Alien: Horror, Sci-Fi from 1979.", "The Shining is a comedy.",
        "A film called Partly Cloudy.", "Starring Tom Hanks.", "An award-winning masterpiece.", "[Title]",
        "A haunted hotel and a slow descent.", "Halloween, Halloween, Halloween.", "Two films for tonight.",
        "Horror from the 1990s.", "Only €3.00 today.", "Horror from 1978 to 1995.", "He fights a killer.",
        "<data>night</data>", "A popular blockbuster.", "Horror films and more horror films.", "",
    ]
)  # fmt: skip
_text = st.lists(_fragments, min_size=1, max_size=3).map(" ".join)
_ids = st.sampled_from(["film-1", "film-2", "film-3", "film-4", "ghost", "film-1 "])
_notes = st.lists(st.builds(lambda i, t: Note(item_id=i, note=t), _ids, _text), max_size=6)


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=_text, description=_text, notes=_notes)
def test_whatever_the_model_answers_every_composed_sentence_passes_the_checks(
    films: list[Item], title: str, description: str, notes: list[Note]
) -> None:
    picked = FILMS[:3]
    ground = Grounds(items=picked, context="a night of scares", newest_year=2016,
                     prompt_ngrams=prompt_ngrams("A haunted hotel and a slow descent."))  # fmt: skip
    answer = CollectionText.model_construct(title=title or "x", description=description or "y", notes=notes)
    text, _, verdicts, _ = compose("a night of scares", picked, {"film-1", "film-2", "film-3", "film-4"}, answer,
                                   grounds=ground, repair=False)  # fmt: skip
    assert [n.item_id for n in text.notes] == ["film-1", "film-2", "film-3"], "every picked item once, nothing else"
    by_id = {f.external_id: f for f in picked}
    assert all(v.status == "passed" for v in check(text.title, part="title", grounds=ground))
    assert all(v.status == "passed" for v in check(text.description, part="description", grounds=ground))
    for note in text.notes:
        assert all(
            v.status == "passed" for v in check(note.note, part="note", grounds=ground, item=by_id[note.item_id])
        )
    assert all(v.status in ("passed", "replaced", "dropped") for v in verdicts)
    assert all(v.reason for v in verdicts if v.status != "passed"), "every change says why"
