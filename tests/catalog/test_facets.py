"""Facet discovery over real items: category levels, tags, price and attribute keys with their
types and counts; identifiers and free text are not facets; a refresh follows the catalog."""

from __future__ import annotations

import pytest

from recsys_app.catalog.facets import facets_current, facets_refresh
from recsys_app.catalog.models import Facet, Item
from recsys_app.catalog.services import items_upsert


def _rows(count: int) -> list[dict[str, object]]:
    colours = ["red", "blue", "black"]
    return [
        {
            "external_id": f"sku-{n}",
            "title": f"Item {n}",
            "category_path": "Shoes/Running" if n % 2 else "Kitchen/Coffee",
            "tags": ["eco"] if n % 3 == 0 else [],
            "price": f"{5 + n}.50",
            "currency": "EUR",
            "attributes": {"color": colours[n % 3], "year": 2000 + n % 7, "serial": f"X-{n}", "sku_number": n},
        }
        for n in range(30)
    ]


@pytest.mark.django_db
def test_facets_are_discovered_with_types_counts_and_ranges() -> None:
    assert not items_upsert(rows=_rows(30)).errors
    stats = facets_refresh()
    facets = {f.name: f for f in Facet.objects.all()}
    assert stats.facets == len(facets) == 5, "category, tag, price, color, year"
    assert facets["category"].values == {"Shoes": 15, "Running": 15, "Kitchen": 15, "Coffee": 15}
    assert facets["tag"].values == {"eco": 10} and facets["tag"].items == 10
    assert (facets["price"].minimum, facets["price"].maximum, facets["price"].items) == (5.5, 34.5, 30)
    assert facets["color"].value_type == "text" and facets["color"].values == {"red": 10, "blue": 10, "black": 10}
    assert facets["year"].value_type == "number" and (facets["year"].minimum, facets["year"].maximum) == (2000, 2006)
    assert "serial" not in facets and "sku_number" not in facets, "identifiers are not facets"


@pytest.mark.django_db
def test_a_refresh_follows_the_catalog_and_the_first_read_discovers() -> None:
    assert not items_upsert(rows=_rows(30)).errors
    assert {f.name for f in facets_current()} >= {"category", "color"}, "discovered on first use"
    Item.objects.filter(external_id__in=[f"sku-{n}" for n in range(0, 30, 3)]).update(is_available=False)
    facets_refresh()
    facets = {f.name: f for f in facets_current()}
    assert "tag" not in facets, "no available item has a tag any more"
    assert facets["color"].values == {"blue": 10, "black": 10}


@pytest.mark.django_db
def test_the_console_lists_facets_and_an_operator_can_rediscover_them(cast: dict[str, object]) -> None:
    from django.test import Client
    from django.urls import reverse

    assert not items_upsert(rows=_rows(30)).errors
    facets_refresh()
    url = reverse("admin:catalog_facet_changelist")
    viewer, operator = Client(), Client()
    viewer.force_login(cast["viewer"])  # type: ignore[arg-type]
    operator.force_login(cast["operator"])  # type: ignore[arg-type]
    page = viewer.get(url).content.decode()
    assert "red (10)" in page and "5.5 to 34.5" in page and "Rediscover every facet now" not in page
    Item.objects.filter(external_id="sku-1").update(is_available=False)
    pick = [Facet.objects.first().pk]  # type: ignore[union-attr]
    viewer.post(url, {"action": "refresh", "_selected_action": pick})
    assert Facet.objects.get(name="category").values["Running"] == 15, "a viewer cannot run it"
    done = operator.post(url, {"action": "refresh", "_selected_action": pick}, follow=True).content.decode()
    assert "5 facets" in done
    assert Facet.objects.get(name="category").values["Running"] == 14, "rediscovered from the catalog as it is"
