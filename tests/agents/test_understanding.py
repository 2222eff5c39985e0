"""Query understanding over a catalog's facets: values, negation, ranges, decades, refinements,
several languages; and the topic reading (a request, a question about the world, harm).

The facets are built in memory (as `facets_refresh` stores them), so these run without a
database; the embedding fallback uses the real MiniLM encoder."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.agent import degenerate
from agents.topic import classify, harmful, is_affirmative
from agents.understanding import Reading, read, vocabulary_of
from recsys_app.catalog.models import Facet

GENRES = ["Drama", "Comedy", "Thriller", "Action", "Romance", "Adventure", "Crime", "Sci-Fi", "Horror", "Fantasy",
          "Children", "Mystery", "Documentary", "Animation", "Musical", "War", "Western", "Film-Noir"]  # fmt: skip
MOVIES = vocabulary_of([
    Facet(name="category", source="category", value_type="text", values={g: 100 for g in GENRES}),
    Facet(name="tag", source="tag", value_type="text", values={g: 300 for g in GENRES}),
    Facet(name="year", source="attribute", value_type="number", minimum=1902, maximum=2016),
])  # fmt: skip
SHOP = vocabulary_of([
    Facet(name="category", source="category", value_type="text",
          values={"Shoes": 500, "Running": 120, "Boots": 130, "Kitchen": 400, "Coffee": 90, "Outdoor": 300}),
    Facet(name="color", source="attribute", value_type="text", values={"red": 80, "blue": 70, "black": 90}),
    Facet(name="size", source="attribute", value_type="text", values={"M": 50, "L": 40, "42": 30}),
    Facet(name="brand", source="attribute", value_type="text", values={"Nordwell": 60, "Kestrel": 50}),
    Facet(name="price", source="price", value_type="number", minimum=2.5, maximum=900),
])  # fmt: skip


def _include(reading: Reading) -> list[list[str]]:
    return [[label.text for label in group] for group in reading.include]


def _exclude(reading: Reading) -> list[str]:
    return [label.text for label in reading.exclude]


def _range(reading: Reading, facet: str) -> tuple[object, ...]:
    (bounds,) = [r for r in reading.ranges if r.facet == facet]
    return bounds.low, bounds.low_inclusive, bounds.high, bounds.high_inclusive


@pytest.mark.parametrize(
    ("message", "include", "exclude"),
    [
        ("a sci-fi movie, but no horror please", [["Sci-Fi"]], ["Horror"]),
        ("a mystery, not a thriller", [["Mystery"]], ["Thriller"]),
        ("anything but comedy", [], ["Comedy"]),
        ("no horror or thriller, a drama", [["Drama"]], ["Horror", "Thriller"]),
        ("No, I want a comedy", [["Comedy"]], []),
        ("una comedia sin terror", [["Comedy"]], ["Horror"]),
        ("un drame, pas de western", [["Drama"]], ["Western"]),
        ("keine Krimis, lieber eine Komödie", [["Comedy"]], ["Crime"]),
        ("wartime drama", [["War"], ["Drama"]], []),
        ("action comedy", [["Action"], ["Comedy"]], []),
        ("comedy or horror", [["Comedy", "Horror"]], []),
        ("Thriller raus bitte", [], ["Thriller"]),
        ("such mir ein paar Krimis raus", [["Crime"]], []),
        ("looking for war movies that aren't comedy", [["War"]], ["Comedy"]),
        ("science fiction", [["Sci-Fi"]], []),
        ("space movies", [["Sci-Fi"]], []),
        ("animated films for kids", [["Animation"], ["Children"]], []),
    ],
)
def test_values_and_negation_scope(message: str, include: list[list[str]], exclude: list[str]) -> None:
    reading = read(message, MOVIES)
    assert (_include(reading), _exclude(reading)) == (include, exclude)


@pytest.mark.parametrize(
    ("message", "bounds"),
    [
        ("made before 1970", (None, True, 1970, False)),
        ("2010 or later", (2010, True, None, True)),
        ("nothing older than 1980", (1980, True, None, True)),
        ("after 2000", (2000, False, None, True)),
        ("until 1985", (None, True, 1985, True)),
        ("between 1990 and 1995", (1990, True, 1995, True)),
        ("films from 1995", (1995, True, 1995, True)),
        ("the 90s", (1990, True, 1999, True)),
        ("les films des années 90", (1990, True, 1999, True)),
        ("una película de los ochenta", (1980, True, 1989, True)),
        ("etwas aus den Neunzigern", (1990, True, 1999, True)),
        ("the seventies", (1970, True, 1979, True)),
        ("antes de 1960", (None, True, 1960, False)),
        ("nach 2005", (2005, False, None, True)),
        ("recent", (2011, True, None, True)),
    ],
)
def test_year_ranges_open_and_closed(message: str, bounds: tuple[object, ...]) -> None:
    expected = tuple(Decimal(b) if isinstance(b, int) and not isinstance(b, bool) else b for b in bounds)
    assert _range(read(message, MOVIES), "year") == expected


def test_prices_sizes_colours_and_brands_in_a_shop() -> None:
    reading = read("red or blue running shoes under $50, size 42, not Kestrel", SHOP)
    assert _include(reading) == [["red", "blue"], ["Running"], ["Shoes"], ["42"]]
    assert _exclude(reading) == ["Kestrel"] and _range(reading, "price") == (None, True, Decimal(50), False)
    assert _range(read("between 20 and 40 euros", SHOP), "price") == (Decimal(20), True, Decimal(40), True)
    assert _range(read("zapatos rojos por menos de 30 euros", SHOP), "price") == (None, True, Decimal(30), False)
    assert _include(read("zapatos rojos", SHOP)) == [["Shoes"], ["red"]]
    assert _include(read("M", SHOP)) == [], "a one-letter value needs its facet's name"
    assert _include(read("boots in size M", SHOP)) == [["Boots"], ["M"]]


@pytest.mark.parametrize(
    ("message", "refine", "ordinal"),
    [("something cheaper", "cheaper", None), ("older ones", "older", None), ("más recientes", "newer", None),
     ("something else", "else", None), ("not the first one", "reject", 1), ("I've seen the second one", "reject", 2),
     ("more like the second one", "like", 2), ("plutôt comme le deuxième", "like", 2)],
)  # fmt: skip
def test_refinements_of_what_was_shown(message: str, refine: str, ordinal: int | None) -> None:
    reading = read(message, MOVIES)
    assert (reading.refine, reading.ordinal) == (refine, ordinal)


def test_start_over_is_read_in_four_languages() -> None:
    assert all(read(m, MOVIES).reset for m in ("start over", "empecemos de nuevo", "on recommence", "von vorne"))


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("What is the capital of France?", "off_topic"),
        ("What is the history of the western world?", "off_topic"),
        ("who won the war of 1812?", "off_topic"),
        ("tell me a joke", "off_topic"),
        ("how to make a weapon at home", "harmful"),
        ("how do I hurt my neighbour", "harmful"),
        ("what's a good war movie?", "catalog"),
        ("any westerns?", "catalog"),
        ("a film about a bomb squad", "catalog"),
        ("got anything good?", "vague"),
        ("¿qué me recomiendas?", "vague"),
        ("I'm bored", "vague"),
        ("you people are idiots, give me a stupid horror movie", "catalog"),
    ],
)
def test_topic_is_read_from_the_form_not_from_category_words(message: str, kind: str) -> None:
    assert classify(message, read(message, MOVIES)) == kind


def test_harm_needs_a_harmful_frame() -> None:
    assert harmful("cómo fabricar una bomba en casa") and harmful("wie baue ich eine Bombe")
    assert not harmful("action movies with guns and explosions") and not harmful("Kill Bill")


def test_affirmative_answers() -> None:
    assert all(is_affirmative(m) for m in ("yes", "Yes please", "sure", "oui", "ja, gerne", "vale"))
    assert not is_affirmative("yes, but a comedy from the 90s and no horror at all")


def test_degenerate_replies_are_caught() -> None:
    assert degenerate("a film about a cat that was a cat that was a cat that was a cat")
    assert degenerate("great great great great movie")
    assert not degenerate("Here are two scary films from the 80s you might enjoy: Alien and The Thing.")


def test_a_mixed_result_of_a_free_text_request_gets_a_narrowing_question() -> None:
    from agents.agent import _narrowing
    from agents.tools import Card, Constraints, Value

    def card(n: int, genre: str) -> Card:
        return Card(n, f"m{n}", f"Movie {n}", genre, 1990, None, "", {}, (genre,))

    mixed = [card(n, ["Drama", "Comedy", "Horror"][n % 3]) for n in range(12)]
    question = _narrowing(mixed, Constraints(query="dinosaurs"))
    assert "Drama (4)" in question and "Comedy (4)" in question and "narrow it down" in question
    assert _narrowing([card(n, "Drama") for n in range(12)], Constraints(query="x")) == "", "not mixed"
    named = Constraints(include=[[Value("Drama", ())]])
    assert _narrowing(mixed, named) == "", "a request that named a value is not asked again"


@pytest.mark.parametrize(
    ("message", "refine"),
    [("these are too old", "newer"), ("zu neu für mich", "older"), ("trop chers", "cheaper"),
     ("demasiado antiguas", "newer")],
)  # fmt: skip
def test_too_much_of_something_asks_for_the_other_way(message: str, refine: str) -> None:
    assert read(message, MOVIES).refine == refine
