from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from recsys_app.catalog.models import EndUser, Item
from recsys_app.lib.local_cache import LocalCache


def item_list(*, category: str | None = None) -> QuerySet[Item]:
    items = Item.objects.select_related("creator")
    if category:
        items = items.filter(category_path__startswith=category)
    return items


def item_get(*, external_id: str) -> Item:
    item = Item.objects.select_related("creator").filter(external_id=external_id).first()
    if item is None:
        raise Http404(f"No item with external_id '{external_id}'.")
    return item


def end_user_get(*, external_id: str) -> EndUser:
    user = EndUser.objects.filter(external_id=external_id).first()
    if user is None:
        raise Http404(f"No user with external_id '{external_id}'.")
    return user


# The user's latest liked items (positive interaction types), newest first; parameters:
# user id, limit. Also used as a subquery.
LIKED_ITEMS_SQL = (
    "SELECT x.item_id FROM catalog_interaction x JOIN catalog_interactiontype k ON k.code = x.type AND k.weight > 0 "
    "WHERE x.user_id = %s GROUP BY x.item_id ORDER BY max(x.occurred_at) DESC LIMIT %s"
)


def liked_item_ids(*, user_id: int, limit: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(LIKED_ITEMS_SQL, [user_id, limit])
        return [row[0] for row in cursor.fetchall()]


# A few hundred names at most, read on every chat turn and generated-text check.
_top_categories: LocalCache[list[str]] = LocalCache(ttl=600.0)


def top_categories() -> list[str]:
    """The catalog's top-level category names, sorted (per process, at most 10 minutes old)."""

    def load() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT split_part(category_path, '/', 1) FROM catalog_item WHERE category_path <> ''"
            )
            return sorted(row[0] for row in cursor.fetchall())

    return _top_categories.get("all", load)
