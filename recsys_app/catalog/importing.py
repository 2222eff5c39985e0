"""File imports (CSV, JSON Lines, Parquet) of creators, items, users and interactions.

Whole-file problems (unreadable encoding, missing or unknown columns) stop the import
before anything is written. Row problems go to a rejects file (line, field, message) and
the valid rows are stored. Each chunk commits together with the run's offset, so an
interrupted import resumes from the last committed chunk when run again on the same file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from pydantic import BaseModel

from recsys_app.catalog import events, services
from recsys_app.catalog.models import ImportRun
from recsys_app.catalog.schemas import CreatorIn, EndUserIn, ItemIn
from recsys_app.lib.rows import RowError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CHUNK_ROWS = {"interactions": 100_000, "items": 5_000, "users": 10_000, "creators": 10_000}
_SCHEMAS: dict[str, type[BaseModel]] = {"items": ItemIn, "users": EndUserIn, "creators": CreatorIn}
_UPSERTS: dict[str, Callable[..., services.UpsertResult]] = {
    "items": services.items_upsert,
    "users": services.end_users_upsert,
    "creators": services.creators_upsert,
}
KINDS = ("creators", "items", "users", "interactions")


class ImportFileError(Exception):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class Chunk:
    """Records read from the file: dicts (`records`) or, for columnar reads, a `frame`."""

    size: int  # records consumed, readable or not: advances the resume offset
    lines: list[int]  # line number (row number for Parquet) of each readable record
    records: list[Any] | None = None
    frame: pd.DataFrame | None = None  # indexed by line number
    errors: list[RowError] = field(default_factory=list)  # records unreadable as a whole
    from_text: bool = False  # values are CSV strings that still need decoding


def columns_for(kind: str) -> tuple[set[str], set[str]]:
    """(required, allowed) column names for a kind of file."""
    if kind == "interactions":
        return set(events.REQUIRED), set(events.COLUMNS)
    fields = _SCHEMAS[kind].model_fields
    return {n for n, f in fields.items() if f.is_required()}, set(fields)


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise ImportFileError(f"unknown format '{fmt}' (choose csv, jsonl or parquet)")
        return fmt
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(f"cannot tell the format of '{path.name}'; pass --format csv, jsonl or parquet")
    return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class TextScan:
    lines: int
    plain: bool  # no quotes and no blank lines: every line is exactly one record


def scan_text(path: Path) -> TextScan:
    """Check the encoding (naming the line of the first bad byte) and the file's shape."""
    lines, plain, previous = 0, True, b"\n"
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines + block[: exc.start].count(b"\n") + 1
                bad = block[exc.start]
                raise ImportFileError(f"the file is not valid UTF-8: line {line} has byte 0x{bad:02x}") from exc
            joined = previous + block
            plain = plain and b'"' not in block and b"\n\n" not in joined and b"\n\r\n" not in joined
            lines += block.count(b"\n")
            previous = block[-1:]
    return TextScan(lines=lines, plain=plain)


def check_columns(kind: str, present: list[str]) -> None:
    required, allowed = columns_for(kind)
    missing = sorted(required - set(present))
    unknown = sorted(set(present) - allowed)
    problems = []
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    if problems:
        raise ImportFileError("; ".join(problems))


# --- Readers: each yields chunks of `size` records after skipping `skip` imported ones ------


def read_csv(path: Path, kind: str, skip: int, size: int) -> Iterator[Chunk]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise ImportFileError("the file is empty; the first line must name the columns")
        check_columns(kind, header)
        pending: list[tuple[int, list[str]]] = []
        line = reader.line_num + 1
        for consumed, row in enumerate(reader, start=1):
            if consumed > skip:
                pending.append((line, row))
                if len(pending) >= size:
                    yield _csv_chunk(kind, header, pending)
                    pending = []
            line = reader.line_num + 1
        if pending:
            yield _csv_chunk(kind, header, pending)


def _csv_chunk(kind: str, header: list[str], pending: list[tuple[int, list[str]]]) -> Chunk:
    chunk = Chunk(size=len(pending), lines=[], from_text=True)
    rows = []
    for line, row in pending:
        if len(row) != len(header):
            chunk.errors.append(RowError(line, "(row)", f"has {len(row)} fields, the header has {len(header)}"))
            continue
        chunk.lines.append(line)
        rows.append(row)
    if kind == "interactions":
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
        data = {name: pd.Series(list(col), dtype="str") for name, col in zip(header, columns, strict=True)}
        chunk.frame = pd.DataFrame(data)
        chunk.frame.index = pd.Index(chunk.lines, dtype="int64")
    else:
        chunk.records = [dict(zip(header, row, strict=True)) for row in rows]
    return chunk


def read_jsonl(path: Path, kind: str, skip: int, size: int) -> Iterator[Chunk]:
    chunk = Chunk(size=0, lines=[], records=[])
    consumed = 0
    with path.open(encoding="utf-8") as handle:
        for line_no, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            consumed += 1
            if consumed <= skip:
                continue
            chunk.size += 1
            try:
                chunk.records.append(json.loads(text))  # type: ignore[union-attr]
                chunk.lines.append(line_no)
            except json.JSONDecodeError as exc:
                chunk.errors.append(RowError(line_no, "(row)", f"is not valid JSON ({exc.msg})"))
            if chunk.size >= size:
                yield chunk
                chunk = Chunk(size=0, lines=[], records=[])
    if chunk.size:
        yield chunk


def read_parquet(path: Path, kind: str, skip: int, size: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise ImportFileError(f"not a readable Parquet file ({exc})") from exc
    check_columns(kind, parquet.schema_arrow.names)
    row = 0
    for batch in parquet.iter_batches(batch_size=size):
        first, row = row, row + batch.num_rows
        if row <= skip:
            continue
        batch = batch.slice(max(skip - first, 0))
        first = max(first, skip)
        lines = list(range(first + 1, first + batch.num_rows + 1))
        if kind == "interactions":
            frame = batch.to_pandas()
            frame.index = pd.Index(lines, dtype="int64")
            yield Chunk(size=len(lines), lines=lines, frame=frame)
        else:
            yield Chunk(size=len(lines), lines=lines, records=batch.to_pylist())


def read_plain_csv_columns(path: Path, kind: str, skip: int, size: int) -> Iterator[Chunk]:
    """Fast path for interaction files where each line is one record (see `scan_text`):
    pyarrow parses, and line numbers follow from record order and the malformed lines."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with path.open(encoding="utf-8") as handle:
        first = handle.readline().rstrip("\r\n")
    if not first:
        raise ImportFileError("the file is empty; the first line must name the columns")
    header = [name.strip() for name in first.split(",")]
    check_columns(kind, header)
    malformed: dict[int, str] = {}

    def on_bad_row(row: Any) -> str:
        malformed[row.number] = f"has {row.actual_columns} fields, the header has {row.expected_columns}"
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=8 << 20, skip_rows_after_names=skip),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad_row),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )
    next_line = skip + 2
    for batch in reader:
        for start in range(0, batch.num_rows, size):
            part = batch.slice(start, size)
            chunk, next_line = _plain_chunk(part.to_pandas(), next_line, malformed)
            yield chunk
    trailing = sorted(line for line in malformed if line >= next_line)
    if trailing:
        errors = [RowError(line, "(row)", malformed[line]) for line in trailing]
        yield Chunk(size=len(trailing), lines=[], frame=pd.DataFrame(columns=header), errors=errors)


def _plain_chunk(frame: pd.DataFrame, next_line: int, malformed: dict[int, str]) -> tuple[Chunk, int]:
    lines: list[int] = []
    errors: list[RowError] = []
    wanted = len(frame)
    while len(lines) < wanted:
        if next_line in malformed:
            errors.append(RowError(next_line, "(row)", malformed[next_line]))
        else:
            lines.append(next_line)
        next_line += 1
    frame.index = pd.Index(lines, dtype="int64")
    return Chunk(size=len(lines) + len(errors), lines=lines, frame=frame, errors=errors), next_line


READERS: dict[str, Callable[[Path, str, int, int], Iterator[Chunk]]] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
}


# --- Storing one chunk ---------------------------------------------------------------------


@dataclass
class Prepared:
    """A chunk checked as far as possible without the database."""

    chunk: Chunk
    errors: list[RowError]
    event_shards: list[events.EventBatch] | None = None  # interactions, split by idempotency key
    records: list[dict[str, Any]] | None = None  # catalog rows
    lines: list[int] | None = None


def prepare_chunk(kind: str, chunk: Chunk, types: set[str]) -> Prepared:
    """Pure work (no database), so it can run ahead of the writes in another thread."""
    errors = list(chunk.errors)
    if kind == "interactions":
        frame = chunk.frame
        if frame is None:
            frame, read_errors = events.frame_from_records(chunk.records or [], indexes=chunk.lines)
            errors += read_errors
        batch = events.validate(frame, known_types=types)
        parallel = len(batch.frame) >= settings.IMPORT_PARALLEL_MIN_ROWS
        shards = batch.shards(settings.IMPORT_WRITERS if parallel else 1)
        for shard in shards:
            shard.stage_payload()  # built here, off the writing threads
        return Prepared(chunk=chunk, errors=errors + batch.errors, event_shards=shards)
    records, lines = chunk.records or [], chunk.lines
    if chunk.from_text:
        records, lines, decode_errors = _decode_text_records(records, lines)
        errors += decode_errors
    return Prepared(chunk=chunk, errors=errors, records=records, lines=lines)


def write_chunk(kind: str, prepared: Prepared) -> tuple[int, int, list[RowError]]:
    """Store a prepared chunk; returns (stored, unchanged or duplicate, row errors).

    One shard (or a catalog chunk) is written on the caller's connection, inside its
    transaction. Several shards are written at once, each by its own thread, connection and
    transaction: they hold disjoint idempotency keys, so the writers never wait on each other.
    """
    shards = prepared.event_shards
    if shards is not None:
        written = [events.write(shards[0])] if len(shards) == 1 else _write_in_parallel(shards)
        stored = sum(w.stored for w in written)
        duplicates = sum(w.duplicates for w in written)
        return stored, duplicates, prepared.errors + [e for w in written for e in w.errors]
    result = _UPSERTS[kind](rows=prepared.records or [], indexes=prepared.lines)
    return result.created + result.updated, result.unchanged, prepared.errors + result.errors


def _write_in_parallel(shards: list[events.EventBatch]) -> list[events.WriteResult]:
    with ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="import-write") as pool:
        return list(pool.map(_write_committed, shards))


def _write_committed(shard: events.EventBatch) -> events.WriteResult:
    try:
        with transaction.atomic():
            return events.write(shard)
    finally:
        connection.close()  # this thread's own connection


def prepared_ahead(kind: str, chunks: Iterator[Chunk], types: set[str]) -> Iterator[Prepared]:
    """Read and check the next chunk in a thread while the current one is written.

    pandas, pyarrow and psycopg release the GIL for their heavy parts, so on two cores parsing
    overlaps PostgreSQL's insert work. The thread never touches the database.
    """

    def next_prepared() -> Prepared | None:
        chunk = next(chunks, None)
        return None if chunk is None else prepare_chunk(kind, chunk, types)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as pool:
        pending = pool.submit(next_prepared)
        while (prepared := pending.result()) is not None:
            pending = pool.submit(next_prepared)
            yield prepared


_JSON_COLUMNS = {"attributes"}
_LIST_COLUMNS = {"tags"}


def _decode_text_records(
    records: list[dict[str, str]], lines: list[int]
) -> tuple[list[dict[str, Any]], list[int], list[RowError]]:
    """CSV cells are text: empty means absent, tags are 'a|b', attributes are a JSON object."""
    out, kept, errors = [], [], []
    for line, record in zip(lines, records, strict=True):
        row: dict[str, Any] = {}
        try:
            for name, text in record.items():
                if text.strip() == "":
                    continue
                if name in _LIST_COLUMNS:
                    row[name] = [part for part in text.split("|") if part.strip()]
                elif name in _JSON_COLUMNS:
                    row[name] = _json_object(name, text)
                else:
                    row[name] = text
        except ValueError as exc:
            errors.append(RowError(line, *exc.args))
            continue
        out.append(row)
        kept.append(line)
    return out, kept, errors


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(name, f"is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ValueError(name, "must be a JSON object")
    return value


# --- The run ---------------------------------------------------------------------------------


@dataclass
class ImportRequest:
    path: Path
    kind: str
    fmt: str | None = None
    rejects_path: Path | None = None
    chunk_rows: int | None = None


def import_file(request: ImportRequest, *, progress: Callable[[int], None] | None = None) -> ImportRun:
    """Import (or resume importing) one file; returns its finished ImportRun."""
    path, kind = request.path, request.kind
    if kind not in KINDS:
        raise ImportFileError(f"unknown kind '{kind}' (choose {', '.join(KINDS)})")
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    fmt = detect_format(path, request.fmt)
    reader = READERS[fmt]
    if fmt != "parquet":
        scan = scan_text(path)  # always first: a bad encoding must stop the import before any write
        if fmt == "csv" and kind == "interactions" and scan.plain:
            reader = read_plain_csv_columns
    run = _claim_run(path, kind, file_sha256(path), request.rejects_path)
    if run.status == ImportRun.Status.DONE:
        return run
    types = events.known_types()
    size = request.chunk_rows or CHUNK_ROWS[kind]
    try:
        with _RejectsFile(Path(run.rejects_path), committed_bytes=run.rejects_bytes) as rejects:
            for prepared in prepared_ahead(kind, reader(path, kind, run.rows_done, size), types):
                _commit_chunk(run, kind, prepared, rejects)
                if progress:
                    progress(prepared.chunk.size)
    except ImportFileError as exc:
        _finish(run, ImportRun.Status.FAILED, str(exc))
        raise
    _finish(run, ImportRun.Status.DONE)
    return run


def _claim_run(path: Path, kind: str, sha: str, rejects_path: Path | None) -> ImportRun:
    # Two processes importing the same file at once would both resume from the same offset;
    # idempotency keys and upserts make that harmless for the data, only counts would double.
    default_rejects = path.with_name(f"{path.name}.rejects.csv")
    run, _ = ImportRun.objects.get_or_create(
        kind=kind,
        file_sha256=sha,
        defaults={"source": str(path), "rejects_path": str(rejects_path or default_rejects)},
    )
    if run.status != ImportRun.Status.DONE and run.status != ImportRun.Status.RUNNING:
        run.status = ImportRun.Status.RUNNING
        run.error = ""
        run.save(update_fields=["status", "error"])
    return run


def _commit_chunk(run: ImportRun, kind: str, prepared: Prepared, rejects: _RejectsFile) -> None:
    """Write a chunk and advance the run's offset with it.

    When shards are written in parallel they commit before the offset does. A crash in
    between makes a resumed run read the chunk again: its rows are not stored twice (their
    keys exist), they are only counted as duplicates the second time.
    """
    chunk = prepared.chunk
    with transaction.atomic():
        stored, unchanged, errors = write_chunk(kind, prepared)
        length = rejects.write(errors)
        ImportRun.objects.filter(pk=run.pk).update(
            rejects_bytes=length,
            rows_done=F("rows_done") + chunk.size,
            rows_stored=F("rows_stored") + stored,
            rows_unchanged=F("rows_unchanged") + unchanged,
            rows_rejected=F("rows_rejected") + len({e.index for e in errors}),
        )
    run.refresh_from_db(fields=["rows_done", "rows_stored", "rows_unchanged", "rows_rejected", "rejects_bytes"])


def _finish(run: ImportRun, status: str, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])


class _RejectsFile:
    """CSV of (line, field, message). Its committed length is stored with the run's offset, so
    a resumed import cuts off entries from a chunk that did not commit and will be read again."""

    def __init__(self, path: Path, *, committed_bytes: int) -> None:
        self.path = path
        self.committed_bytes = committed_bytes

    def __enter__(self) -> _RejectsFile:
        if self.committed_bytes and self.path.exists():
            self.handle = self.path.open("r+", newline="", encoding="utf-8")
            self.handle.truncate(self.committed_bytes)
            self.handle.seek(self.committed_bytes)
            self.writer = csv.writer(self.handle)
        else:
            self.handle = self.path.open("w", newline="", encoding="utf-8")
            self.writer = csv.writer(self.handle)
            self.writer.writerow(["line", "field", "message"])
        return self

    def write(self, errors: list[RowError]) -> int:
        """Append and sync; return the file's length."""
        self.writer.writerows([e.index, e.field, e.message] for e in sorted(errors, key=lambda e: e.index))
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return self.handle.tell()

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
