"""Column-wise validation and set-based storage of interaction events.

The REST batch endpoint and the file importer both come through here, so a row is judged
the same way wherever it arrives. Rows are validated with vectorised pandas operations and
written with COPY into a per-connection staging table, then one INSERT ... SELECT resolves
external ids and drops duplicates by idempotency key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.utils import timezone

from recsys_app.catalog.models import InteractionType
from recsys_app.lib.rows import RowError
from recsys_app.lib.traffic import is_simulated

COLUMNS = ("user_id", "item_id", "type", "value", "timestamp", "surface", "context", "idempotency_key", "request_id")
REQUIRED = ("user_id", "item_id", "type", "timestamp")
MAX_LENGTH = {"user_id": 255, "item_id": 255, "type": 32, "surface": 64, "idempotency_key": 128}
_OFFSET = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_EPOCH = r"-?\d+(?:\.\d+)?"
_WRONG = object()  # marks a JSON value of the wrong type


@dataclass
class EventBatch:
    """Valid rows, normalised, indexed by their batch index or file line; and the rejects."""

    frame: pd.DataFrame
    errors: list[RowError] = field(default_factory=list)
    _payload: bytes | None = field(default=None, repr=False)

    def shards(self, count: int) -> list[EventBatch]:
        """Split by idempotency key, so concurrent writers never contend for the same key."""
        if count <= 1 or self.frame.empty:
            return [self]
        hashes = pd.util.hash_pandas_object(self.frame["idempotency_key"], index=False).to_numpy()
        return [EventBatch(frame=self.frame[hashes % count == shard]) for shard in range(count)]

    def stage_payload(self) -> bytes:
        """The rows as CSV for COPY; importers build it ahead, off the writing thread.

        pyarrow's CSV writer runs in C++ without the GIL; times travel as integer
        microseconds, since formatting datetimes as text cost more than the COPY itself.
        """
        if self._payload is None:
            import pyarrow as pa
            import pyarrow.csv as pacsv

            stage = self.frame.assign(occurred_us=self.frame["occurred_at"].astype("int64"))[_STAGE_COLUMNS]
            table = pa.Table.from_pandas(stage.rename_axis("line").reset_index(), preserve_index=False)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
            self._payload = sink.getvalue().to_pybytes()
        return self._payload


@dataclass
class WriteResult:
    stored: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)


def known_types() -> set[str]:
    return set(InteractionType.objects.values_list("code", flat=True))


def frame_from_records(
    rows: Sequence[Any], *, indexes: Sequence[int] | None = None
) -> tuple[pd.DataFrame, list[RowError]]:
    """JSON objects to a frame; non-objects and unknown fields are rejected here.

    `indexes` names the rows in errors (file line numbers); by default, batch positions.
    """
    good: list[dict[str, Any]] = []
    index: list[int] = []
    errors: list[RowError] = []
    allowed = set(COLUMNS)
    for position, raw in zip(indexes or range(len(rows)), rows, strict=True):
        if not isinstance(raw, dict):
            errors.append(RowError(position, "(row)", "must be a JSON object"))
            continue
        extra = sorted(set(raw) - allowed)
        if extra:
            errors.append(RowError(position, extra[0], f"unknown field (allowed: {', '.join(COLUMNS)})"))
            continue
        good.append(raw)
        index.append(position)
    frame = pd.DataFrame.from_records(good, columns=list(COLUMNS)) if good else pd.DataFrame(columns=list(COLUMNS))
    frame.index = pd.Index(index, dtype="int64")
    return frame, errors


class _Checker:
    """Collects the first error of each row; `bad` marks rows already rejected."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.index = frame.index.to_numpy()
        self.bad = np.zeros(len(frame), dtype=bool)
        self.errors: list[RowError] = []

    def reject(self, mask: Any, column: str, message: str | Callable[[int], str]) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        for pos in np.flatnonzero(mask):
            text = message(int(pos)) if callable(message) else message
            self.errors.append(RowError(int(self.index[pos]), column, text))
        self.bad |= mask


def validate(frame: pd.DataFrame, *, known_types: set[str]) -> EventBatch:
    """Check every column of every row; return the valid rows normalised for `write`."""
    for column in COLUMNS:
        if column not in frame:  # optional columns a file leaves out
            frame[column] = pd.Series("", index=frame.index, dtype="str")
    check = _Checker(frame)
    out = pd.DataFrame(index=frame.index)
    for column in ("user_id", "item_id", "type", "surface", "idempotency_key"):
        out[column] = _text(frame, column, check)
    _check_type(out["type"], known_types, check)
    out["value"] = _number(frame["value"], check)
    out["occurred_at"] = _timestamp(frame["timestamp"], check)
    out["context"] = _per_value(frame["context"], _context_json, "context", check)
    out["request_id"] = _per_value(frame["request_id"], _uuid_text, "request_id", check)
    valid = out[~check.bad].copy()
    valid["idempotency_key"] = _with_derived_keys(valid)
    return EventBatch(frame=valid, errors=check.errors)


def _with_derived_keys(frame: pd.DataFrame) -> pd.Series:
    """Events without a key get one derived from their content, so a retried event is stored once."""
    keys = frame["idempotency_key"]
    missing = keys.eq("")
    if not missing.any():
        return keys
    rows = frame[missing]
    micros = rows["occurred_at"].astype("int64").astype(str)
    values = rows["value"].map(lambda v: "" if pd.isna(v) else repr(float(v)))
    content = rows["user_id"] + "|" + rows["item_id"] + "|" + rows["type"] + "|" + micros + "|" + values
    derived = content.map(lambda text: "auto:" + hashlib.md5(text.encode(), usedforsecurity=False).hexdigest())
    return keys.where(~missing, derived)


def _text(frame: pd.DataFrame, column: str, check: _Checker) -> pd.Series:
    values = frame[column]
    if not pd.api.types.is_string_dtype(values) or values.dtype == object:
        values = values.astype(object).map(_coerce_text)
        wrong = values.map(lambda v: v is _WRONG).to_numpy(dtype=bool)
        check.reject(wrong, column, "must be a string")
        values = values.where(~wrong, "")
    text = values.fillna("").astype(str).str.strip()
    if column in REQUIRED:
        check.reject(text.eq("").to_numpy(), column, "is required")
    limit = MAX_LENGTH[column]
    check.reject(text.str.len().gt(limit).to_numpy(), column, f"is longer than {limit} characters")
    return text


def _coerce_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)  # numeric ids are common in client payloads
    return _WRONG


def _check_type(types: pd.Series, known: set[str], check: _Checker) -> None:
    unknown = (~types.isin(known) & types.ne("")).to_numpy()
    listing = ", ".join(sorted(known))
    check.reject(unknown, "type", lambda pos: f"unknown interaction type '{types.iloc[pos]}' (known: {listing})")


def _number(values: pd.Series, check: _Checker) -> pd.Series:
    if values.dtype == object:
        is_bool = values.map(lambda v: isinstance(v, bool)).to_numpy(dtype=bool)
        check.reject(is_bool, "value", "must be a number")
        values = values.where(~is_bool, None)
    present = values.notna() & values.astype(str).str.strip().ne("")
    numbers = pd.to_numeric(values.where(present), errors="coerce").astype("float64")
    invalid = present & ~np.isfinite(numbers.fillna(0.0)) | present & numbers.isna()
    check.reject(invalid.to_numpy(), "value", "must be a finite number")
    return numbers


def _timestamp(values: pd.Series, check: _Checker) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):  # typed columns (Parquet)
        parsed = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        parsed = parsed.dt.as_unit("us")
    else:
        parsed = _parse_timestamp_text(values, check)
    now = timezone.now()
    low, high = pd.Timestamp("1970-01-01", tz="UTC"), pd.Timestamp(now + timedelta(days=1))
    out_of_range = (parsed.notna() & ((parsed < low) | (parsed > high))).to_numpy()
    check.reject(out_of_range, "timestamp", "is outside 1970-01-01 .. now + 1 day")
    check.reject(parsed.isna().to_numpy(), "timestamp", "is required")  # rows rejected above keep their error
    return parsed


def _parse_timestamp_text(values: pd.Series, check: _Checker) -> pd.Series:
    if values.dtype == object:
        numeric = values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        values = values.where(~numeric, values.map(str))
        wrong = ~numeric & values.notna() & ~values.map(lambda v: isinstance(v, str))
        check.reject(wrong.to_numpy(dtype=bool), "timestamp", "must be an ISO-8601 string or epoch seconds")
        values = values.where(~wrong, None)
    text = values.fillna("").astype(str).str.strip()
    epoch = text.str.fullmatch(_EPOCH)
    iso = text.ne("") & ~epoch
    naive = iso & ~text.str.contains(_OFFSET, regex=True)
    check.reject(naive.to_numpy(), "timestamp", "needs a timezone offset, e.g. 2024-05-01T12:00:00Z")
    # Microsecond resolution: nanoseconds cannot hold years past 2262, which must fail as
    # out of range rather than overflow.
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if epoch.any():
        seconds = pd.to_numeric(text[epoch], errors="coerce")
        in_range = seconds.abs() < 1e11
        parsed[epoch & in_range.reindex(epoch.index, fill_value=False)] = pd.to_datetime(
            seconds[in_range], unit="s", utc=True
        ).dt.as_unit("us")
    good_iso = iso & ~naive
    if good_iso.any():
        iso_parsed = pd.to_datetime(text[good_iso], utc=True, errors="coerce", format="ISO8601")
        parsed[good_iso] = iso_parsed.dt.as_unit("us")
    unparsable = (text.ne("") & parsed.isna() & ~naive).to_numpy()
    check.reject(unparsable, "timestamp", "is not a valid ISO-8601 timestamp or epoch seconds")
    return parsed


def _per_value(values: pd.Series, convert: Callable[[Any], str | None], column: str, check: _Checker) -> pd.Series:
    """Convert the few present values one by one; a ValueError rejects the row."""
    out = pd.Series(None, index=values.index, dtype=object)
    if values.dtype == object:
        present = values.map(lambda v: v is not None and not (isinstance(v, float) and np.isnan(v)) and v != "")
    else:
        present = values.notna() & values.astype(str).str.strip().ne("")
    for pos in np.flatnonzero(present.to_numpy(dtype=bool)):
        try:
            out.iloc[pos] = convert(values.iloc[pos])
        except ValueError as exc:
            mask = np.zeros(len(values), dtype=bool)
            mask[pos] = True
            check.reject(mask, column, str(exc))
    return out


def _context_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return json.dumps(value, separators=(",", ":"))


def _uuid_text(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise ValueError("must be a UUID") from exc


# --- Writing -----------------------------------------------------------------------------

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS event_stage (
    line bigint, user_ext text, item_ext text, type text, value float8, occurred_us bigint,
    surface text, context jsonb, idempotency_key text, request_id uuid
) ON COMMIT DELETE ROWS
"""
_STAGE_COLUMNS = [
    "user_id",
    "item_id",
    "type",
    "value",
    "occurred_us",
    "surface",
    "context",
    "idempotency_key",
    "request_id",
]

# One statement resolves external ids, inserts new events (a repeated idempotency key is
# skipped) and reports the unresolved rows, plus a row (line NULL) with the resolved and
# inserted counts.
_INSERT = """
WITH staged AS (
    SELECT s.*, u.id AS user_id, i.id AS item_id
    FROM event_stage s
    LEFT JOIN catalog_enduser u ON u.external_id = s.user_ext
    LEFT JOIN catalog_item i ON i.external_id = s.item_ext
), inserted AS (
    INSERT INTO catalog_interaction
        (user_id, item_id, type, value, occurred_at, surface, context, request_id, idempotency_key, received_at,
         simulated)
    SELECT user_id, item_id, type, value, to_timestamp(occurred_us / 1e6), coalesce(surface, ''),
           coalesce(context, '{}'::jsonb), request_id,
           idempotency_key, now(), %s
    FROM staged
    WHERE user_id IS NOT NULL AND item_id IS NOT NULL
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING 1
)
SELECT line, user_ext, item_ext, user_id IS NULL, item_id IS NULL FROM staged
WHERE user_id IS NULL OR item_id IS NULL
UNION ALL
SELECT NULL, (SELECT count(*) FROM staged WHERE user_id IS NOT NULL AND item_id IS NOT NULL)::text,
       (SELECT count(*) FROM inserted)::text, NULL, NULL
"""


def write(batch: EventBatch) -> WriteResult:
    """Store valid events; must run inside a transaction (the staging table empties on commit)."""
    if not connection.in_atomic_block:
        # In autocommit the staging table would empty itself between COPY and INSERT.
        raise RuntimeError("events.write must run inside transaction.atomic()")
    result = WriteResult()
    if batch.frame.empty:
        return result
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        cursor.execute("TRUNCATE event_stage")
        with cursor.cursor.copy("COPY event_stage FROM STDIN (FORMAT csv)") as copy:
            copy.write(batch.stage_payload())
        cursor.execute(_INSERT, [is_simulated()])  # marked when a simulator sent them (lib/traffic.py)
        rows = cursor.fetchall()
    (_, resolved, stored, _, _) = next(row for row in rows if row[0] is None)
    result.errors = sorted(
        (_unresolved_error(*row) for row in rows if row[0] is not None), key=lambda error: error.index
    )
    result.stored, result.duplicates = int(stored), int(resolved) - int(stored)
    return result


def _unresolved_error(line: int, user_ext: str, item_ext: str, no_user: bool, no_item: bool) -> RowError:
    if no_user:
        return RowError(line, "user_id", f"unknown user '{user_ext}'; upsert the user first")
    return RowError(line, "item_id", f"unknown item '{item_ext}'; upsert the item first")
