"""The audit log: one append-only row for every operator action that changes what end users
see (publishing, edits, rules, surfaces, prompt promotion, experiments, deletions), with who,
what, when, and the state before and after."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from functools import partial
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


def audit_save(*, actor: Any, obj: models.Model, save: Callable[[], None], action: str,
               secret: Collection[str] = ()) -> None:  # fmt: skip
    """Run `save` and record it in the same transaction: a new row whole (`<action>.create`), a
    changed one as the fields that changed, before and after (`<action>.change`; a save that
    changed nothing is not recorded). Secret fields appear by name only: "(set)" or "(empty)"."""
    stored = type(obj)._default_manager.filter(pk=obj.pk)
    before = _state(stored.first(), secret)
    with transaction.atomic():
        save()
        after = _state(stored.first(), secret) or {}  # as stored: Decimal("0") reads back as 0.000000
        if before is None:
            audit_record(actor=actor, action=f"{action}.create", target=obj, summary=str(obj),
                         after=_hide(after, secret))  # fmt: skip
            return
        changed = [name for name in after if before.get(name) != after[name]]
        if changed:
            audit_record(actor=actor, action=f"{action}.change", target=obj, summary=f"{obj}: {', '.join(changed)}",
                         before=_hide({name: before.get(name) for name in changed}, secret),
                         after=_hide({name: after[name] for name in changed}, secret))  # fmt: skip


def audit_delete(*, actor: Any, objs: Iterable[models.Model], delete: Callable[[], None], action: str,
                 secret: Collection[str] = ()) -> None:  # fmt: skip
    """Record each row as it was (`<action>.delete`), then run `delete`, in one transaction."""
    with transaction.atomic():
        for obj in objs:
            audit_record(actor=actor, action=f"{action}.delete", target=obj, summary=str(obj),
                         before=_hide(_state(obj, secret) or {}, secret))  # fmt: skip
        delete()


def _state(instance: models.Model | None, secret: Collection[str]) -> dict[str, Any] | None:
    """`snapshot`, plus the secret fields (often not editable, so not in it) to compare."""
    state = snapshot(instance)
    return None if state is None else {**state, **{name: getattr(instance, name) for name in secret}}


def _hide(state: dict[str, Any], secret: Collection[str]) -> dict[str, Any]:
    return {name: ("(set)" if value else "(empty)") if name in secret else value for name, value in state.items()}


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A console page whose saves and deletions are audited as `<audit_action>.create`,
    `.change` (the fields that changed) and `.delete`; `audit_secret_fields` by name only."""

    audit_action = ""  # e.g. "rule"; default: the model's name
    audit_secret_fields: tuple[str, ...] = ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        audit_save(actor=request.user, obj=obj, action=self._prefix(), secret=self.audit_secret_fields,
                   save=partial(super().save_model, request, obj, form, change))  # fmt: skip

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_delete(actor=request.user, objs=[obj], action=self._prefix(), secret=self.audit_secret_fields,
                     delete=partial(super().delete_model, request, obj))  # fmt: skip

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        audit_delete(actor=request.user, objs=list(queryset), action=self._prefix(), secret=self.audit_secret_fields,
                     delete=partial(super().delete_queryset, request, queryset))  # fmt: skip

    def _prefix(self) -> str:
        return self.audit_action or self.model._meta.model_name
