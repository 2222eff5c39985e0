"""Facet discovery: what the catalog can be filtered by, read from the items themselves.

Category levels (each segment of `category_path`), tags, price, and every attribute key:
numbers get their range, text gets its values with item counts. `facets_refresh` rewrites the
`Facet` rows in one transaction (a beat job runs it); `facets_current` is the per-process read
the agent's parser uses on every turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from recsys_app.catalog.models import Facet
from recsys_app.lib.local_cache import LocalCache

MAX_VALUES = 500  # per text facet, the most frequent
MAX_TEXT_DISTINCT = 2000  # a text attribute with more distinct values is free text, not a facet
IDENTIFIER_SHARE = 0.9  # distinct values / items above which an attribute is an identifier
RESERVED = {"category", "tag", "price"}

_CATEGORY_SQL = (
    "SELECT seg, count(*) FROM catalog_item, unnest(string_to_array(category_path, '/')) AS seg "
    "WHERE is_available AND seg <> '' GROUP BY seg ORDER BY count(*) DESC, seg LIMIT %s"
)
_TAG_SQL = (
    "SELECT tag, count(*) FROM catalog_item, unnest(tags) AS tag WHERE is_available AND tag <> '' "
    "GROUP BY tag ORDER BY count(*) DESC, tag LIMIT %s"
)
_KEYS_SQL = (
    "SELECT e.key, jsonb_typeof(e.value), count(*), count(DISTINCT e.value) FROM catalog_item, "
    "jsonb_each(attributes) AS e WHERE is_available GROUP BY 1, 2"
)
_TEXT_VALUES_SQL = (
    "SELECT attributes->>%s AS v, count(*) FROM catalog_item WHERE is_available AND jsonb_typeof(attributes->%s) = "
    "'string' GROUP BY v ORDER BY count(*) DESC, v LIMIT %s"
)
_NUMBER_RANGE_SQL = (
    "SELECT min((attributes->>%s)::float), max((attributes->>%s)::float) FROM catalog_item WHERE is_available "
    "AND jsonb_typeof(attributes->%s) = 'number'"
)


@dataclass
class FacetStats:
    facets: int
    values: int
    seconds: float


def facets_refresh() -> FacetStats:
    """Rediscover every facet from the available items; replaces the stored ones at once."""
    started = timezone.now()
    found = [*_text_facet("category", Facet.Source.CATEGORY, _CATEGORY_SQL), *_text_facet("tag", Facet.Source.TAG,
             _TAG_SQL), *_price_facet(), *_attribute_facets()]  # fmt: skip
    with transaction.atomic():
        Facet.objects.all().delete()
        Facet.objects.bulk_create(found)
    _facets.clear()
    seconds = (timezone.now() - started).total_seconds()
    return FacetStats(len(found), sum(len(f.values) for f in found), round(seconds, 3))


def _text_facet(name: str, source: str, sql: str) -> list[Facet]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [MAX_VALUES])
        values = dict(cursor.fetchall())
    if not values:
        return []
    return [Facet(name=name, source=source, value_type=Facet.ValueType.TEXT, values=values,
                  items=_items_with(source))]  # fmt: skip


def _items_with(source: str) -> int:
    condition = {"category": "category_path <> ''", "tag": "cardinality(tags) > 0", "price": "price IS NOT NULL"}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM catalog_item WHERE is_available AND {condition[source]}")
        return int(cursor.fetchone()[0])


def _price_facet() -> list[Facet]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(price), max(price), count(*) FROM catalog_item WHERE is_available AND price IS "
                       "NOT NULL")  # fmt: skip
        low, high, count = cursor.fetchone()
    if not count:
        return []
    return [Facet(name="price", source=Facet.Source.PRICE, value_type=Facet.ValueType.NUMBER, minimum=float(low),
                  maximum=float(high), items=count)]  # fmt: skip


def _attribute_facets() -> list[Facet]:
    with connection.cursor() as cursor:
        cursor.execute(_KEYS_SQL)
        keys = cursor.fetchall()
    facets = []
    for key, kind, count, distinct in keys:
        if key.lower() in RESERVED or len(key) > 64 or (count > 20 and distinct > IDENTIFIER_SHARE * count):
            continue
        if kind == "number":
            facets.append(_number_attribute(key, count))
        elif kind == "string" and distinct <= MAX_TEXT_DISTINCT:
            facets.append(_text_attribute(key, count))
    return facets


def _number_attribute(key: str, count: int) -> Facet:
    with connection.cursor() as cursor:
        cursor.execute(_NUMBER_RANGE_SQL, [key, key, key])
        low, high = cursor.fetchone()
    return Facet(name=key, source=Facet.Source.ATTRIBUTE, value_type=Facet.ValueType.NUMBER, minimum=low,
                 maximum=high, items=count)  # fmt: skip


def _text_attribute(key: str, count: int) -> Facet:
    with connection.cursor() as cursor:
        cursor.execute(_TEXT_VALUES_SQL, [key, key, MAX_VALUES])
        values = {value: n for value, n in cursor.fetchall() if value}
    return Facet(name=key, source=Facet.Source.ATTRIBUTE, value_type=Facet.ValueType.TEXT, values=values,
                 items=count)  # fmt: skip


_facets: LocalCache[list[Facet]] = LocalCache(ttl=300.0)


def facets_current() -> list[Facet]:
    """The stored facets (per process, at most 5 minutes old); discovered on the spot the first
    time, when none are stored yet."""

    def load() -> list[Facet]:
        stored = list(Facet.objects.all())
        if stored:
            return stored
        facets_refresh()
        return list(Facet.objects.all())

    return _facets.get("all", load)
