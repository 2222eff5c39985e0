"""Writes to the catalog: upserts of creators, items and end users, and event ingestion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ValidationError

from recsys_app.catalog import events
from recsys_app.catalog.models import Creator, EndUser, Item
from recsys_app.catalog.schemas import CreatorIn, EndUserIn, ItemIn, content_hash
from recsys_app.lib.rows import RowError, row_errors_from_pydantic
from recsys_app.lib.sql import upsert_rows
from recsys_app.lib.traffic import is_simulated

RowT = TypeVar("RowT", bound=BaseModel)


@dataclass
class UpsertResult:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({e.index for e in self.errors})


def validate_rows(
    rows: Sequence[Any], schema: type[RowT], *, indexes: Sequence[int] | None = None
) -> tuple[list[tuple[int, RowT]], list[RowError]]:
    """Validate each row; later rows repeating an external_id are rejected, not merged.

    `indexes` names the rows in errors (file line numbers); by default, batch positions.
    """
    valid: list[tuple[int, RowT]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for index, raw in zip(indexes or range(len(rows)), rows, strict=True):
        if not isinstance(raw, dict):
            errors.append(RowError(index, "(row)", "must be a JSON object"))
            continue
        try:
            row = schema.model_validate(raw)
        except ValidationError as exc:
            errors.extend(row_errors_from_pydantic(index, exc))
            continue
        ext = row.external_id  # type: ignore[attr-defined]
        if ext in seen:
            errors.append(RowError(index, "external_id", f"repeats the row at index {seen[ext]} in this batch"))
            continue
        seen[ext] = index
        valid.append((index, row))
    return valid, errors


def _upsert(
    rows: Sequence[Any],
    schema: type[RowT],
    write: Callable[[list[tuple[int, RowT]], list[RowError]], tuple[int, int]],
    *,
    indexes: Sequence[int] | None = None,
) -> UpsertResult:
    valid, errors = validate_rows(rows, schema, indexes=indexes)
    result = UpsertResult(received=len(rows), errors=errors)
    if valid:
        with transaction.atomic():
            created, updated = write(valid, result.errors)
        result.created, result.updated = created, updated
    result.unchanged = result.received - result.rejected - result.created - result.updated
    result.errors.sort(key=lambda e: e.index)
    return result


def creators_upsert(*, rows: Sequence[Any], indexes: Sequence[int] | None = None) -> UpsertResult:
    return _upsert(rows, CreatorIn, _write_creators, indexes=indexes)


def items_upsert(*, rows: Sequence[Any], indexes: Sequence[int] | None = None) -> UpsertResult:
    return _upsert(rows, ItemIn, _write_items, indexes=indexes)


def end_users_upsert(*, rows: Sequence[Any], indexes: Sequence[int] | None = None) -> UpsertResult:
    return _upsert(rows, EndUserIn, _write_end_users, indexes=indexes)


# Columns set on insert only; every other column is updated when its value changed.
_INSERT_ONLY = frozenset({"external_id", "created_at", "updated_at", "simulated"})


def _upsert_by_external_id(model: type[Model], rows: list[dict[str, Any]]) -> tuple[int, int]:
    if not rows:
        return 0, 0
    columns = list(rows[0])
    return upsert_rows(
        table=model._meta.db_table,
        columns=columns,
        rows=[tuple(row.values()) for row in rows],
        key="external_id",
        update=[column for column in columns if column not in _INSERT_ONLY],
    )


def _base_columns(row: CreatorIn | ItemIn | EndUserIn, now: datetime) -> dict[str, Any]:
    """The row's own fields as column values, with the insert-time stamps."""
    values = row.model_dump(exclude={"created_at"})
    values["attributes"] = Jsonb(row.attributes)
    return {**values, "created_at": row.created_at or now, "updated_at": now}


def _write_creators(valid: list[tuple[int, CreatorIn]], errors: list[RowError]) -> tuple[int, int]:
    now = timezone.now()
    return _upsert_by_external_id(Creator, [_base_columns(row, now) for _, row in valid])


def _write_items(valid: list[tuple[int, ItemIn]], errors: list[RowError]) -> tuple[int, int]:
    wanted = {r.creator_id for _, r in valid if r.creator_id}
    creator_ids = dict(Creator.objects.filter(external_id__in=wanted).values_list("external_id", "id"))
    now = timezone.now()
    rows = []
    for index, item in valid:
        if item.creator_id and item.creator_id not in creator_ids:
            errors.append(RowError(index, "creator_id", f"unknown creator '{item.creator_id}'; upsert it first"))
            continue
        values = _base_columns(item, now)
        values.update(
            kind=item.kind.value,
            creator_id=creator_ids.get(item.creator_id or ""),
            content_hash=item.content_hash(),
        )
        rows.append(values)
    return _upsert_by_external_id(Item, rows)


def _write_end_users(valid: list[tuple[int, EndUserIn]], errors: list[RowError]) -> tuple[int, int]:
    now = timezone.now()
    simulated = is_simulated()  # on insert only: simulated traffic never relabels a real user
    return _upsert_by_external_id(EndUser, [{**_base_columns(row, now), "simulated": simulated} for _, row in valid])


@dataclass
class EventsResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({e.index for e in self.errors})


def interactions_ingest(*, rows: Sequence[Any]) -> EventsResult:
    """Store a batch of events from the API; invalid rows are reported, the rest stored once."""
    frame, errors = events.frame_from_records(rows)
    batch = events.validate(frame, known_types=events.known_types())
    with transaction.atomic():
        written = events.write(batch)
    result = EventsResult(received=len(rows), stored=written.stored, duplicates=written.duplicates)
    result.errors = sorted(errors + batch.errors + written.errors, key=lambda e: e.index)
    return result


def item_enrich(*, item: Item, description: str, tags: list[str], provenance: dict[str, Any]) -> Item:
    """Apply reviewed generated text to an item: its description, tags added to its own, and
    the provenance under `attributes['generated']`. The new content hash makes the worker
    re-embed it."""
    item.description = description
    item.tags = list(dict.fromkeys([*item.tags, *tags]))[:100]
    item.attributes = {**item.attributes, "generated": provenance}
    item.content_hash = content_hash(
        item.kind, item.title, item.description, item.category_path, item.tags, item.attributes
    )
    item.save(update_fields=["description", "tags", "attributes", "content_hash", "updated_at"])
    return item
