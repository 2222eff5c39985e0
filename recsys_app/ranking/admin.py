from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.ranking.experiment_results import experiment_results
from recsys_app.ranking.experiments import BUCKETS, experiment_start, experiment_stop
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
    list_display = ["name", "surface", "status", "unit", "layer_name", "traffic", "page", "starts_at", "ends_at"]
    list_filter = ["status", "surface", "unit"]
    # Status changes go through the start and stop actions: start places the experiment in a
    # free slice of its layer (or says why it cannot run) and both are audited.
    readonly_fields = ["status", "slots", "results"]
    actions = ["start", "stop"]
    # Once started, what decides who is in which variant is fixed: a change would reshuffle
    # units mid-test (or undo a guard stop). Stop it and create a new experiment instead.
    FIXED_ONCE_STARTED = ["name", "surface", "variants", "salt", "unit", "layer", "traffic", "starts_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        if obj is not None and obj.status != Experiment.Status.DRAFT:
            return [*self.readonly_fields, *self.FIXED_ONCE_STARTED]
        return list(self.readonly_fields)

    @admin.display(description="layer")
    def layer_name(self, experiment: Experiment) -> str:
        return experiment.layer_name

    @admin.display(description="results")
    def page(self, experiment: Experiment) -> SafeString:
        return format_html('<a href="{}">results</a>', reverse("console:experiment", args=[experiment.pk]))

    @admin.display(description="slice of the layer")
    def slots(self, experiment: Experiment) -> str:
        if experiment.slot_start is None:
            return "placed when started"
        return f"{experiment.slot_start}-{experiment.slot_end} of {BUCKETS}"

    @admin.display(description="results (CTR with Wilson 95% intervals)")
    def results(self, experiment: Experiment) -> SafeString:
        if experiment.pk is None:
            return format_html("<em>{}</em>", "saved experiments show results here")
        shown = experiment_results(experiment=experiment)
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r.variant, r.units, r.impressions, r.clicks, _rate(r.ctr), _rate(r.conversion_rate))
             for r in shown.variants),
        )  # fmt: skip
        header = (
            "<tr><th>variant</th><th>units</th><th>impressions</th><th>clicks</th><th>CTR</th><th>conversion</th></tr>"
        )
        link = reverse("console:experiment", args=[experiment.pk])
        return format_html('<table>{}{}</table><p><a href="{}">Full results: both worlds, SRM, guard, replay</a></p>',
                           SafeString(header), rows, link)  # fmt: skip

    @admin.action(description="Start (in a free slice of its layer)", permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            try:
                experiment_start(experiment=experiment, by=request.user)
            except ValueError as exc:
                self.message_user(request, f"{experiment.name}: {exc}", level=messages.ERROR)

    @admin.action(description="Stop", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset:
            experiment_stop(experiment=experiment, by=request.user)


def _rate(values: tuple[float, float, float]) -> str:
    # format_html escapes its arguments to text first, so numbers are formatted here.
    rate, low, high = values
    return f"{rate:.2%} [{low:.2%}, {high:.2%}]"
