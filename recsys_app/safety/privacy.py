"""End users' data: export of everything stored about one, erasure run as a job, and the
retention of raw events and traces.

What belongs to an end user is found from the schema, not from a list kept by hand: every
table with a foreign key to `EndUser` (and the tables under those, such as chat turns under
chat sessions), plus the traces marked with them (`llmops.tracing.trace_subject`). A new app
that stores rows about end users with a foreign key is exported and erased with no change here.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from recsys_app.catalog.models import EndUser, Impression, Interaction
from recsys_app.llmops.models import Trace
from recsys_app.llmops.tracing import traces_prune, traces_redact
from recsys_app.retrieval.stats import item_stats_refresh
from recsys_app.safety.audit import audit_record, json_safe
from recsys_app.safety.models import DeletionRequest

EXPORT_FORMAT = "recsys-end-user-export/1"
RETENTION_BATCH = 10_000


class PrivacyError(ValueError):
    """A privacy request that cannot be carried out; the text says which field and why."""


def subject_hash(external_id: str) -> str:
    return hashlib.sha256(external_id.encode()).hexdigest()


def user_export(*, user: EndUser) -> dict[str, Any]:
    """Everything stored about the end user, as JSON values: their row, every row that points to
    it (and to those rows), and the traces about them."""
    data: dict[str, list[dict[str, Any]]] = {}
    _rows_under(EndUser, [user.pk], data, depth=2)
    traces = Trace.objects.filter(attributes__subject=user.external_id).values(
        "id", "name", "started_at", "input", "output", "parsed", "guardrails"
    )
    return json_safe({  # type: ignore[no-any-return]
        "format": EXPORT_FORMAT, "exported_at": timezone.now(),
        "user": EndUser.objects.filter(pk=user.pk).values().get(), "data": data, "traces": list(traces),
    })  # fmt: skip


def _rows_under(model: type[models.Model], pks: list[Any], data: dict[str, list[dict[str, Any]]], depth: int) -> None:
    if depth == 0 or not pks:
        return
    for relation in model._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        related = relation.related_model
        rows = list(related._base_manager.filter(**{f"{relation.field.name}__in": pks}).values())
        if rows:
            data.setdefault(related._meta.label, []).extend(rows)
            _rows_under(related, [row[related._meta.pk.attname] for row in rows], data, depth - 1)


def deletion_request(*, external_id: str, by: Any = None, via: str = "console") -> DeletionRequest:
    """Queue the erasure of an end user; a request already open for them is returned as is."""
    if not EndUser.objects.filter(external_id=external_id).exists():
        raise PrivacyError(f"user_id: no end user '{external_id}'")
    digest = subject_hash(external_id)
    open_request = DeletionRequest.objects.filter(
        subject_hash=digest, status__in=[DeletionRequest.Status.PENDING, DeletionRequest.Status.RUNNING]
    ).first()
    if open_request is not None:
        return open_request
    request = DeletionRequest.objects.create(user_external_id=external_id, subject_hash=digest,
                                             requested_by=by, requested_via=via)  # fmt: skip
    from recsys_app.safety.tasks import user_delete_task  # tasks import this module

    transaction.on_commit(lambda: user_delete_task.delay(request.pk))
    return request


def user_delete(*, request_id: int) -> DeletionRequest | None:
    """Carry out one erasure, once: claimed with a conditional UPDATE, done in one transaction
    (all of it or none), then the request keeps only counts and the id's hash."""
    claimed = DeletionRequest.objects.filter(pk=request_id, status=DeletionRequest.Status.PENDING).update(
        status=DeletionRequest.Status.RUNNING
    )
    request = DeletionRequest.objects.filter(pk=request_id).first()
    if not claimed or request is None:
        return request
    started = time.perf_counter()
    try:
        with transaction.atomic():
            counts = _erase(request.user_external_id)
            request.status, request.user_external_id, request.counts = DeletionRequest.Status.DONE, "", counts
            request.finished_at, request.seconds = timezone.now(), round(time.perf_counter() - started, 3)
            request.save(update_fields=["status", "user_external_id", "counts", "finished_at", "seconds"])
            audit_record(actor=request.requested_by, action="enduser.delete", summary=f"deletion #{request.pk}",
                         target=("catalog.EndUser", request.subject_hash[:16]), after={"removed": counts})  # fmt: skip
    except Exception as exc:
        DeletionRequest.objects.filter(pk=request.pk).update(status=DeletionRequest.Status.FAILED,
                                                             error=f"{type(exc).__name__}: {exc}"[:2000])  # fmt: skip
        raise
    return request


def _erase(external_id: str) -> dict[str, int]:
    user = EndUser.objects.select_for_update().filter(external_id=external_id).first()
    if user is None:
        return {"end users": 0}
    items = list(Interaction.objects.filter(user=user).values_list("item_id", flat=True).distinct())
    counts = {"traces redacted": traces_redact(subject=external_id)}
    counts["anonymous impressions"] = Impression.objects.filter(user__isnull=True,
                                                                user_external_id=external_id).delete()[0]  # fmt: skip
    _total, per_model = user.delete()
    counts.update(per_model)
    counts["item stats recomputed"] = item_stats_refresh(item_ids=items).items if items else 0
    return counts


def retention_enforce() -> dict[str, int]:
    """Delete raw events, impressions and traces older than their retention (0: kept)."""
    now = timezone.now()
    out = {"traces": traces_prune()}
    for key, model, field, days in (
        ("interactions", Interaction, "occurred_at", settings.EVENTS_RETENTION_DAYS),
        ("impressions", Impression, "shown_at", settings.IMPRESSIONS_RETENTION_DAYS),
    ):
        out[key] = _delete_older(model, field, now - timedelta(days=days)) if days else 0
    return out


def _delete_older(model: type[models.Model], field: str, cutoff: Any) -> int:
    """In batches, each its own short transaction, so a first run over years of events does not
    hold one huge transaction."""
    deleted = 0
    while True:
        batch = list(
            model._base_manager.filter(**{f"{field}__lt": cutoff}).values_list("pk", flat=True)[:RETENTION_BATCH]
        )
        if not batch:
            return deleted
        deleted += model._base_manager.filter(pk__in=batch).delete()[0]
