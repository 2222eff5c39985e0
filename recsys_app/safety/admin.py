from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from recsys_app.safety.audit import AuditedAdmin
from recsys_app.safety.guardrails import DEFAULTS
from recsys_app.safety.models import AuditEntry, DeletionRequest, Guardrail


@admin.register(Guardrail)
class GuardrailAdmin(AuditedAdmin):
    """Settings of the chain's guardrails; every save, on the change page or in the list, is
    audited as `guardrail.change` with the fields that changed."""

    audit_action = "guardrail"
    list_display = ["name", "enabled", "on_input", "on_output", "action", "threshold", "what", "updated_at"]
    list_editable = ["enabled", "on_input", "on_output", "action", "threshold"]

    @admin.display(description="what it checks")
    def what(self, guardrail: Guardrail) -> str:
        default = DEFAULTS.get(guardrail.name)
        return default.description if default else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the chain's guardrails are code; their rows are settings

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "action", "target_type", "target_id", "summary"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "actor_name", "summary"]
    date_hierarchy = "at"


@admin.register(DeletionRequest)
class DeletionRequestAdmin(ReadOnlyAdmin):
    list_display = ["pk", "status", "requested_via", "requested_by", "requested_at", "finished_at", "seconds"]
    list_filter = ["status", "requested_via"]
    readonly_fields = ["subject_hash", "status", "counts", "seconds", "error"]
