"""The audit log: one append-only row for every operator action that changes what end users
see (publishing, edits, rules, surfaces, prompt promotion, experiments, deletions), with who,
what, when, and the state before and after."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest

from recsys_app.safety.models import AuditEntry


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | tuple[str, str],
    summary: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Write one entry (inside the caller's transaction: the entry exists if and only if the
    change does)."""
    target_type, target_id = (
        (target._meta.label, str(target.pk)) if isinstance(target, models.Model) else (target[0], str(target[1]))
    )
    person = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=person, actor_name=person.get_username() if person is not None else "",
        action=action, target_type=target_type, target_id=target_id, summary=summary[:500],
        before=json_safe(before), after=json_safe(after),
    )  # fmt: skip


def snapshot(instance: models.Model | None, fields: list[str] | None = None) -> dict[str, Any] | None:
    """A model row as JSON: its editable fields, or the named ones."""
    if instance is None or instance.pk is None:
        return None
    return json_safe(model_to_dict(instance, fields=fields))  # type: ignore[no-any-return]


class _Encoder(DjangoJSONEncoder):
    """Times as ISO strings, vectors (numpy arrays) as lists, anything else as its text."""

    def default(self, o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def json_safe(value: Any) -> Any:
    """A copy made only of JSON values."""
    return None if value is None else json.loads(json.dumps(value, cls=_Encoder))


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A console page whose saves and deletions are audited as `<action_prefix>.change` /
    `.delete`, with the row before and after."""

    audit_action = ""  # e.g. "rule"; default: the model's name

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = snapshot(type(obj).objects.filter(pk=obj.pk).first()) if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(actor=request.user, action=f"{self._prefix()}.{'change' if change else 'create'}",
                         target=obj, summary=str(obj), before=before, after=snapshot(obj))  # fmt: skip

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        before = snapshot(obj)
        with transaction.atomic():
            audit_record(actor=request.user, action=f"{self._prefix()}.delete", target=obj, summary=str(obj),
                         before=before)  # fmt: skip
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for obj in queryset:
                audit_record(actor=request.user, action=f"{self._prefix()}.delete", target=obj, summary=str(obj),
                             before=snapshot(obj))  # fmt: skip
            super().delete_queryset(request, queryset)

    def _prefix(self) -> str:
        return self.audit_action or self.model._meta.model_name
