from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.ranking.experiments import experiment_results, experiment_start, experiment_stop
from recsys_app.ranking.models import BusinessRule, Experiment, Surface
from recsys_app.safety.audit import AuditedAdmin


@admin.register(Surface)
class SurfaceAdmin(AuditedAdmin):
    audit_action = "surface"
    list_display = ["name", "description", "updated_at"]


@admin.register(BusinessRule)
class BusinessRuleAdmin(AuditedAdmin):
    audit_action = "rule"
    list_display = [
        "name",
        "action",
        "surface",
        "item",
        "category",
        "tag",
        "creator",
        "amount",
        "starts_at",
        "ends_at",
        "is_active",
    ]
    list_filter = ["action", "is_active", "surface"]
    search_fields = ["name", "category", "tag"]
    raw_id_fields = ["item", "creator"]


@admin.register(Experiment)
class ExperimentAdmin(AuditedAdmin):
    audit_action = "experiment"
    list_display = ["name", "surface", "status", "starts_at", "ends_at"]
    list_filter = ["status", "surface"]
    # Status changes go through the start and stop actions: they stop the surface's other
    # running experiment first and are audited (a form edit would hit the one-running constraint).
    readonly_fields = ["status", "results"]
    actions = ["start", "stop"]

    @admin.display(description="results (CTR and conversion with Wilson 95% intervals)")
    def results(self, experiment: Experiment) -> SafeString:
        if experiment.pk is None:
            return format_html("<em>{}</em>", "saved experiments show results here")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (r.variant, r.users, r.impressions, r.clicks, _rate(r.ctr), _rate(r.conversion_rate))
                for r in experiment_results(experiment=experiment)
            ),
        )
        header = (
            "<tr><th>variant</th><th>users</th><th>impressions</th><th>clicks</th><th>CTR</th><th>conversion</th></tr>"
        )
        return format_html("<table>{}{}</table>", SafeString(header), rows)

    @admin.action(description="Start (one running experiment per surface)", permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            experiment_start(experiment=experiment, by=request.user)

    @admin.action(description="Stop", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            experiment_stop(experiment=experiment, by=request.user)


def _rate(values: tuple[float, float, float]) -> str:
    # format_html escapes its arguments to text first, so numbers are formatted here.
    rate, low, high = values
    return f"{rate:.2%} [{low:.2%}, {high:.2%}]"
