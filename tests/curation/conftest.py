"""A small catalog with reviewable drafts on it, and the cast of reviewers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from curation.models import Brief, Draft, DraftItem
from recsys_app.catalog.models import Item
from recsys_app.catalog.services import items_upsert

FILMS = [
    ("film-1", "Alien", "Horror", 1979, "9.99"),
    ("film-2", "The Shining", "Horror", 1980, "7.50"),
    ("film-3", "Halloween", "Horror", 1978, "5.00"),
    ("film-4", "Heat", "Crime", 1995, "8.00"),
]


@pytest.fixture
def films(db: None) -> list[Item]:
    rows = [
        {"external_id": eid, "title": title, "category_path": genre, "tags": [genre], "price": price, "currency": "EUR",
         "attributes": {"year": year}}
        for eid, title, genre, year, price in FILMS
    ]  # fmt: skip
    assert not items_upsert(rows=rows).errors
    return list(Item.objects.order_by("external_id"))


@pytest.fixture
def make_draft(films: list[Item]) -> Callable[..., Draft]:
    """A collection draft as the pipeline leaves it (pending review), over the first films."""

    def make(count: int = 3, **fields: Any) -> Draft:
        brief = Brief.objects.create(theme="scary movie night", status=Brief.Status.DRAFTED)
        chosen = films[:count]
        content = {
            "title": "Horror Classics",
            "description": "Three landmark horror films for a night of chills.",
            "notes": [{"item_id": item.external_id, "note": f"A classic from {item.attributes['year']}."}
                      for item in chosen],
        }  # fmt: skip
        variables = {"theme": brief.theme, "items": [{"item_id": i.external_id, "title": i.title} for i in chosen]}
        draft = Draft.objects.create(
            kind=Draft.Kind.COLLECTION, brief=brief, number=1, generated=content, content=content, writer="model",
            evidence={"variables": variables, "checks": {"dropped": [], "problems": []}}, **fields,
        )  # fmt: skip
        for n, item in enumerate(chosen, start=1):
            DraftItem.objects.create(draft=draft, item=item, position=n, score=1.0 / n, sources=["lexical"])
        return draft

    return make


def _member(username: str, *codenames: str) -> Any:
    group, _ = Group.objects.get_or_create(name=f"curation-{'-'.join(codenames)}")
    group.permissions.set(Permission.objects.filter(content_type__app_label="curation", codename__in=codenames))
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw-123456789", is_staff=True)
    user.groups.add(group)
    return user


@pytest.fixture
def reviewer(db: None) -> Any:
    return _member("rita", "review_draft", "view_draft")


@pytest.fixture
def second_reviewer(db: None) -> Any:
    return _member("rob", "review_draft", "view_draft")


@pytest.fixture
def publisher(db: None) -> Any:
    return _member("paula", "review_draft", "publish_draft", "view_draft", "view_brief", "add_brief")
