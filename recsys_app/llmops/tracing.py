"""Traces: one row per model call, and spans that group calls into one tree (a curation job,
an agent turn, a tool call). The span in progress is tracked per thread or task, so calls made
inside it attach themselves without passing the parent around."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from recsys_app.llmops.models import Trace
from recsys_app.llmops.pinning import current_experiments

_current: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("llm_trace_parent", default=None)
_subject: contextvars.ContextVar[str] = contextvars.ContextVar("llm_trace_subject", default="")


@contextmanager
def trace_subject(external_id: str) -> Iterator[None]:
    """Mark every trace written in the block as about this end user, so erasing them finds and
    redacts it (`safety.privacy`)."""
    token = _subject.set(external_id)
    try:
        yield
    finally:
        _subject.reset(token)


def _with_subject(attributes: dict[str, Any]) -> dict[str, Any]:
    subject, experiments = _subject.get(), current_experiments()
    if experiments:
        attributes = {**attributes, "experiments": experiments}
    return {**attributes, "subject": subject} if subject else attributes


def current_span() -> Trace | None:
    return _current.get()


@contextmanager
def trace_span(name: str, *, parent: Trace | None = None, **attributes: Any) -> Iterator[Trace]:
    """A span row, open while the block runs; its status and duration are saved on exit,
    including when the block raises."""
    parent = parent or _current.get()
    span = Trace.objects.create(kind=Trace.Kind.SPAN, name=name, parent=parent, attributes=_with_subject(attributes),
                                root_id=_root_of(parent))  # fmt: skip
    token = _current.set(span)
    started = time.perf_counter()
    try:
        yield span
    except Exception as exc:
        span.status, span.error = Trace.Status.ERROR, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _current.reset(token)
        span.latency_ms = (time.perf_counter() - started) * 1000
        span.save(update_fields=["status", "error", "latency_ms", "attributes", "output", "parsed", "guardrails"])


def trace_record(**fields: Any) -> Trace:
    """Store one model call under the current span (or the given parent)."""
    parent = fields.pop("parent", None) or _current.get()
    fields["attributes"] = _with_subject(fields.get("attributes", {}))
    trace = Trace(kind=Trace.Kind.LLM, parent=parent, root_id=_root_of(parent), **fields)
    trace.save()
    return trace


def _root_of(parent: Trace | None) -> int | None:
    """A top-level trace has no root_id (it is its own root); its descendants carry its id."""
    if parent is None:
        return None
    return parent.root_id or parent.pk


def traces_prune() -> int:
    """Delete traces older than LLM_TRACE_RETENTION_DAYS (whole trees, by their root's age)."""
    cutoff = timezone.now() - timedelta(days=settings.LLM_TRACE_RETENTION_DAYS)
    old_roots = Trace.objects.filter(parent__isnull=True, started_at__lt=cutoff).values("pk")
    deleted, _ = Trace.objects.filter(Q(root_id__in=old_roots) | Q(pk__in=old_roots)).delete()
    return deleted


def trace_tree(root: Trace) -> list[tuple[int, Trace]]:
    """The root's tree in display order: (depth, trace) pairs."""
    top_id = root.root_id or root.pk
    rows = list(Trace.objects.filter(Q(root_id=top_id) | Q(pk=top_id)).order_by("started_at", "pk"))
    children: dict[int | None, list[Trace]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    out: list[tuple[int, Trace]] = []

    def walk(node: Trace, depth: int) -> None:
        out.append((depth, node))
        for child in children.get(node.pk, []):
            walk(child, depth + 1)

    top = next((row for row in rows if row.pk == top_id), root)
    walk(top, 0)
    return out


_SUBJECT_TREES = """
WITH RECURSIVE marked AS (
    SELECT id FROM llmops_trace WHERE attributes ->> 'subject' = %s
    UNION
    SELECT t.id FROM llmops_trace t JOIN marked m ON t.parent_id = m.id
)
"""


def traces_redact(*, subject: str) -> int:
    """Erase what traces hold about an end user: every trace marked with them (`trace_subject`)
    and everything under it keeps its timings, tokens and verdicts but loses its text; cached
    answers to those inputs go too. Returns the number of traces redacted."""
    with connection.cursor() as cursor:
        cursor.execute(
            _SUBJECT_TREES + "DELETE FROM llmops_cacheentry WHERE input_text IN ("
            "SELECT t.input -> 'messages' -> -1 ->> 'content' FROM llmops_trace t JOIN marked m ON m.id = t.id)",
            [subject],
        )
        cursor.execute(
            _SUBJECT_TREES + 'UPDATE llmops_trace SET input = \'{"redacted": "end user erased"}\'::jsonb, '
            "output = '', parsed = NULL, error = CASE WHEN error = '' THEN '' ELSE '[redacted]' END, "
            "attributes = (attributes - 'subject' - 'message' - 'theme') || '{\"redacted\": true}'::jsonb "
            "WHERE id IN (SELECT id FROM marked)",
            [subject],
        )
        return cursor.rowcount
