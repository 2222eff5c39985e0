from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from recsys_app.catalog.models import EndUser, Item


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
