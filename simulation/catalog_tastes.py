"""Hidden tastes on a catalog that has no held-back ratings (a shop, a synthetic catalog).

Each simulated user is drawn a taste the product never sees: one or two top-level categories
they like and one they dislike, a price band (around a random quantile of the catalog's
prices, as wide as the catalog is spread), and a few preferred brands (the item's `brand`
attribute, else its creator). An item is liked when it is in a liked category, within the
band, and of a preferred brand (or of none known); an item in the disliked category is
disliked. The catalog is read page by page through the public item API, never the database."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simulation.tastes import Tastes


@dataclass(frozen=True)
class CatalogItem:
    item_id: str
    category: str  # top level
    price: float | None
    brand: str


def catalog_rows(rows: list[dict[str, Any]]) -> list[CatalogItem]:
    """Items as `simulation.catalog.catalog_items` reads them, reduced to what tastes look at."""
    return [_item(row) for row in rows]


def catalog_tastes(items: list[CatalogItem], *, users: int, rng: random.Random, prefix: str = "sim-shopper"
                   ) -> list[Tastes]:  # fmt: skip
    """`users` hidden tastes over `items` (user ids `<prefix>-<n>`)."""
    categories = sorted({item.category for item in items})
    if not categories:
        raise ValueError("catalog: no items to draw tastes from")
    prices = sorted(item.price for item in items if item.price is not None)
    brands = sorted({item.brand for item in items if item.brand})
    return [_one(f"{prefix}-{n}", items, categories, prices, brands, rng) for n in range(users)]


def _one(user_id: str, items: list[CatalogItem], categories: list[str], prices: list[float], brands: list[str],
         rng: random.Random) -> Tastes:  # fmt: skip
    liked_categories = set(rng.sample(categories, k=min(len(categories), rng.choice((1, 2)))))
    others = [c for c in categories if c not in liked_categories]
    disliked_category = rng.choice(others) if others else None
    band = _price_band(prices, rng)
    preferred = set(rng.sample(brands, k=min(len(brands), rng.randint(1, 3)))) if brands else set()
    liked = frozenset(
        item.item_id for item in items
        if item.category in liked_categories and _in_band(item.price, band)
        and (not item.brand or not preferred or item.brand in preferred)
    )  # fmt: skip
    disliked = frozenset(item.item_id for item in items if item.category == disliked_category)
    return Tastes(user_id, liked, disliked)


def _price_band(prices: list[float], rng: random.Random) -> tuple[float, float] | None:
    """Between the prices at two quantiles around a random one (a third of the catalog wide)."""
    if not prices:
        return None
    centre = rng.random()
    low, high = max(0.0, centre - 1 / 6), min(1.0, centre + 1 / 6)
    return prices[int(low * (len(prices) - 1))], prices[int(high * (len(prices) - 1))]


def _in_band(price: float | None, band: tuple[float, float] | None) -> bool:
    return band is None or price is None or band[0] <= price <= band[1]


def _item(row: dict[str, Any]) -> CatalogItem:
    price = row.get("price")
    brand = (row.get("attributes") or {}).get("brand") or row.get("creator_id") or ""
    return CatalogItem(row["external_id"], str(row.get("category_path") or "").split("/")[0],
                       float(Decimal(price)) if price not in (None, "") else None, str(brand))  # fmt: skip
