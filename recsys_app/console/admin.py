"""Operator views that combine apps: what a user would see, next to what they did."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.catalog.admin import EndUserAdmin
from recsys_app.catalog.models import EndUser
from recsys_app.console import jobs_admin  # noqa: F401  (registers the job monitor)
from recsys_app.console.fairness import fairness_context
from recsys_app.ranking.serving import RecommendationRequest, recommendations_serve
from recsys_app.safety.models import ExposureDaily
from recsys_app.safety.privacy import deletion_request, user_export

admin.site.unregister(EndUser)


@admin.register(EndUser)
class EndUserPreviewAdmin(EndUserAdmin):
    readonly_fields = ["recommendations_preview", "recent_history"]
    actions = ["export", "erase"]

    @admin.action(description="Export everything stored about them (JSON)", permissions=["delete"])
    def export(self, request: HttpRequest, queryset: QuerySet[EndUser]) -> HttpResponse:
        body = json.dumps([user_export(user=user) for user in queryset[:100]], indent=1)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="end-users-export.json"'
        return response

    @admin.action(description="Erase them (runs as a job; traces are redacted)", permissions=["delete"])
    def erase(self, request: HttpRequest, queryset: QuerySet[EndUser]) -> None:
        queued = [deletion_request(external_id=user.external_id, by=request.user) for user in queryset]
        messages.success(request, f"{len(queued)} erasure(s) queued; see Responsible AI -> Deletion requests.")

    @admin.display(description="What this user sees on the home surface (preview; no impressions logged)")
    def recommendations_preview(self, user: EndUser) -> SafeString:
        if user.pk is None:
            return format_html("<em>{}</em>", "save the user first")
        served = recommendations_serve(
            request=RecommendationRequest(
                surface="home", k=10, user_external_id=user.external_id, log_impressions=False
            )
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((n, item.title, ", ".join(item.sources), item.reason["code"], f"{item.score:.3f}")
             for n, item in enumerate(served.items, start=1)),
        )  # fmt: skip
        note = f" Degraded: {'; '.join(served.degraded)}." if served.degraded else ""
        head = "<tr><th>#</th><th>item</th><th>sources</th><th>reason</th><th>score</th></tr>"
        return format_html("<table>{}{}</table><p>{}</p>", SafeString(head), rows, note)

    @admin.display(description="Recent interactions")
    def recent_history(self, user: EndUser) -> SafeString:
        events = user.interactions.select_related("item").order_by("-occurred_at")[:10]
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", ((e.occurred_at, e.type_id, e.item.title) for e in events)
        )
        return format_html("<table>{}</table>", rows)


@admin.register(ExposureDaily)
class ExposureDailyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Fairness of exposure: the daily rows, with plots and the creator cap above them."""

    list_display = ["day", "surface", "experiment", "variant", "impressions", "items_shown", "coverage", "gini"]
    list_filter = ["surface", "experiment"]
    date_hierarchy = "day"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "fairness": fairness_context(request)})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
