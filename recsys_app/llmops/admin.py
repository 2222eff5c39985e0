"""Console pages for LLMOps: providers and routes with today's usage, the prompt registry
(versions, labels with the gate, rollback, diff, playground, evaluations) and traces."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from recsys_app.llmops.evaluation import eval_result_rate
from recsys_app.llmops.feedback import prompt_feedback
from recsys_app.llmops.gateway import LLMError, llm_complete
from recsys_app.llmops.models import (
    CacheEntry,
    EvalCase,
    EvalDataset,
    EvalResult,
    EvalRun,
    LabelChange,
    Prompt,
    PromptVersion,
    Provider,
    Route,
    Trace,
)  # fmt: skip
from recsys_app.llmops.online import prompt_quality
from recsys_app.llmops.prompts import (
    ONLINE_SET,
    REVIEW_CASES_MIN,
    PromptError,
    render,
    schema_check,
    template_check,
    version_create,
    version_diff,
    version_label,
    version_rollback,
)  # fmt: skip
from recsys_app.llmops.secrets import secret_encrypt
from recsys_app.llmops.tracing import trace_tree
from recsys_app.safety.audit import AuditedAdmin, audit_delete, audit_save
from recsys_app.safety.redteam import SAFETY_SETS

# Provider fields that audit entries name but never hold the value of.
PROVIDER_SECRETS = ("api_key_encrypted",)
# Datasets written by code alone, and the code that writes them.
CODE_BUILT = {**{name: "safety.redteam.safety_sets_build" for name in SAFETY_SETS.values()},
              ONLINE_SET: "llmops.online.online_quality_sample"}  # fmt: skip


class ProviderForm(forms.ModelForm):
    """The key is write-only: a new one replaces the stored one (encrypted at once), an empty
    field keeps it, 'remove key' clears it. No page, in any role, renders a stored key."""

    new_api_key = forms.CharField(
        required=False, label="Replace key", strip=True, max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: leave empty to keep the stored key. Or name an LLM_KEY_* variable below.",
    )  # fmt: skip
    remove_api_key = forms.BooleanField(required=False, label="Remove the stored key")

    class Meta:
        model = Provider
        fields = ["name", "kind", "model", "base_url", "api_key_env", "timeout_seconds", "max_retries",
                  "cost_per_1k_input", "cost_per_1k_output", "is_enabled"]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        """A stored key goes only to the host it was entered for: a new host needs the key again."""
        data: dict[str, Any] = super().clean() or {}
        before = Provider.objects.filter(pk=self.instance.pk).values_list("base_url", flat=True).first()
        moved = before is not None and urlsplit(before).hostname != urlsplit(data.get("base_url") or "").hostname
        if moved and self.instance.has_key and not data.get("new_api_key") and not data.get("remove_api_key"):
            self.add_error("new_api_key", "The host changed: enter the key again (or remove it), so a stored key "
                                          "never goes to a host it was not entered for.")  # fmt: skip
        return data

    def save(self, commit: bool = True) -> Provider:
        provider: Provider = super().save(commit=False)
        if self.cleaned_data.get("new_api_key"):
            provider.api_key_encrypted = secret_encrypt(self.cleaned_data["new_api_key"])
        elif self.cleaned_data.get("remove_api_key"):
            provider.api_key_encrypted = ""
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "kind", "model", "base_url", "key", "timeout_seconds", "max_retries", "is_enabled"]
    readonly_fields = ["key"]

    def get_fields(self, request: HttpRequest, obj: Provider | None = None) -> list[Any]:
        fields = ["name", "kind", "model", "base_url", "key", "api_key_env", "timeout_seconds", "max_retries",
                  "cost_per_1k_input", "cost_per_1k_output", "is_enabled"]  # fmt: skip
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            fields[5:5] = ["new_api_key", "remove_api_key"]
        return fields

    @admin.display(description="key")
    def key(self, provider: Provider) -> str:
        return "key set (stored encrypted)" if provider.has_key else "no stored key"

    def save_model(self, request: HttpRequest, obj: Provider, form: Any, change: bool) -> None:
        audit_save(actor=request.user, obj=obj, action="provider", secret=PROVIDER_SECRETS,
                   save=partial(super().save_model, request, obj, form, change))  # fmt: skip

    def delete_model(self, request: HttpRequest, obj: Provider) -> None:
        audit_delete(actor=request.user, objs=[obj], action="provider", secret=PROVIDER_SECRETS,
                     delete=partial(super().delete_model, request, obj))  # fmt: skip

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        audit_delete(actor=request.user, objs=list(queryset), action="provider", secret=PROVIDER_SECRETS,
                     delete=partial(super().delete_queryset, request, queryset))  # fmt: skip


@admin.register(Route)
class RouteAdmin(AuditedAdmin):
    audit_action = "route"
    list_display = ["use_case", "provider", "fallback", "calls_today", "cache_hit_rate", "tokens_today", "cost_today",
                    "errors_today", "daily_token_budget", "requests_per_minute"]  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Route]:
        """Each route with its last 24 hours of calls, summed from the traces in the same query."""
        since = timezone.now() - timedelta(days=1)
        calls = Trace.objects.filter(use_case=OuterRef("use_case"), kind=Trace.Kind.LLM, started_at__gte=since)

        def usage(aggregate: Any, **where: Any) -> Coalesce:
            rows = calls.filter(**where).order_by().values("use_case").annotate(value=aggregate).values("value")
            return Coalesce(Subquery(rows[:1]), 0, output_field=DecimalField())

        return (
            super().get_queryset(request).select_related("provider", "fallback").annotate(
                calls=usage(Count("pk")), hits=usage(Count("pk"), cache_hit__gt=""),
                errors=usage(Count("pk"), status=Trace.Status.ERROR),
                tokens=usage(Sum(F("tokens_in") + F("tokens_out"))), cost=usage(Sum("cost")),
            )
        )  # fmt: skip

    @admin.display(description="calls (24 h)")
    def calls_today(self, route: Any) -> int:
        return int(route.calls)

    @admin.display(description="cache hits")
    def cache_hit_rate(self, route: Any) -> str:
        return f"{100 * route.hits / route.calls:.0f}%" if route.calls else "-"

    @admin.display(description="tokens (24 h)")
    def tokens_today(self, route: Any) -> int:
        return int(route.tokens)

    @admin.display(description="cost (24 h)")
    def cost_today(self, route: Any) -> str:
        return f"{float(route.cost):.4f}"

    @admin.display(description="errors (24 h)")
    def errors_today(self, route: Any) -> int:
        return int(route.errors)


class VersionInline(admin.TabularInline):
    model = PromptVersion
    fields = ["link", "label", "note", "created_by", "created_at", "last_evaluation"]
    readonly_fields = ["link", "label", "note", "created_by", "created_at", "last_evaluation"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="version")
    def link(self, version: PromptVersion) -> SafeString:
        url = reverse("admin:llmops_promptversion_change", args=[version.pk])
        return format_html('<a href="{}">v{}</a>', url, version.number)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptVersion]:
        done = (EvalRun.objects.filter(version=OuterRef("pk"), status=EvalRun.Status.DONE)
                .exclude(dataset__name=ONLINE_SET).order_by("-pk"))  # fmt: skip
        return super().get_queryset(request).annotate(last_scores=Subquery(done.values("scores")[:1]))

    @admin.display(description="last evaluation")
    def last_evaluation(self, version: PromptVersion) -> str:
        scores = getattr(version, "last_scores", None)
        return ", ".join(f"{k} {v:.2f}" for k, v in scores.items()) if scores else "-"


@admin.register(Prompt)
class PromptAdmin(AuditedAdmin):
    """Edits (the gate among them) are audited as `prompt.change`; versions have their own page."""

    audit_action = "prompt"
    list_display = ["name", "use_case", "production", "versions_count", "description"]
    inlines = [VersionInline]
    actions = ["rollback"]
    change_form_template = "admin/llmops/prompt/change_form.html"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        """The page also shows what reviewers made of each version's drafts, overall and per check,
        and each version's offline scores beside its online ones (`llmops.online`)."""
        rows = prompt_feedback(prompt_name=object_id)
        context = {
            **(extra_context or {}),
            "feedback": rows,
            "review_cases_min": REVIEW_CASES_MIN,
            "quality": prompt_quality(prompt_name=object_id),
            "drift_alert": settings.LLM_ONLINE_DRIFT_ALERT,
        }
        return super().change_view(request, object_id, form_url, context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Prompt]:
        live = PromptVersion.objects.filter(prompt=OuterRef("pk"), label=PromptVersion.Label.PRODUCTION)
        return (
            super()
            .get_queryset(request)
            .annotate(versions_total=Count("versions"), production_number=Subquery(live.values("number")[:1]))
        )

    @admin.display(description="production")
    def production(self, prompt: Prompt) -> str:
        number = getattr(prompt, "production_number", None)
        return f"v{number}" if number else "-"

    @admin.display(description="versions", ordering="versions_total")
    def versions_count(self, prompt: Prompt) -> int:
        return int(getattr(prompt, "versions_total", 0))

    @admin.action(description="Roll production back to the previous version", permissions=["change"])
    def rollback(self, request: HttpRequest, queryset: QuerySet[Prompt]) -> None:
        for prompt in queryset:
            try:
                version = version_rollback(prompt=prompt, by=request.user)
                self.message_user(request, f"{prompt.name}: production is v{version.number} again")
            except PromptError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)


class VersionForm(forms.ModelForm):
    class Meta:
        model = PromptVersion
        fields = ["prompt", "system", "template", "variables_schema", "output_schema", "provider", "params", "examples",
                  "note"]  # fmt: skip

    def clean_system(self) -> str:
        return self._checked("system")

    def clean_template(self) -> str:
        return self._checked("template")

    def clean_variables_schema(self) -> Any:
        return self._schema("variables_schema")

    def clean_output_schema(self) -> Any:
        return self._schema("output_schema")

    def _schema(self, part: str) -> Any:
        """A schema that is not a JSON Schema is a form error naming the field (it was a 500)."""
        schema = self.cleaned_data.get(part)
        if schema:
            try:
                schema_check(schema, part)
            except PromptError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return schema

    def _checked(self, part: str) -> str:
        source = self.cleaned_data.get(part) or ""
        try:
            template_check(source, part=part)
        except PromptError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return str(source)


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: the add form creates a new number; the change page only moves
    labels, compares, evaluates and plays."""

    form = VersionForm
    list_display = ["prompt", "number", "label", "note", "created_by", "created_at"]
    list_filter = ["label", "prompt"]
    actions = ["to_staging", "to_production", "evaluate"]
    change_form_template = "admin/llmops/promptversion/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: PromptVersion | None = None) -> list[str]:
        if obj is None:
            return []
        return ["prompt", "number", "label", "system", "template", "variables_schema", "output_schema", "provider",
                "params", "examples", "note", "created_by", "created_at", "history"]  # fmt: skip

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """'New version from this one': ?from=<id> pre-fills the form with that version."""
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        source = PromptVersion.objects.filter(pk=request.GET.get("from") or 0).first()
        if source is not None:
            initial.update(prompt=source.prompt_id, system=source.system, template=source.template,
                           variables_schema=source.variables_schema, output_schema=source.output_schema,
                           provider=source.provider_id, params=source.params, examples=source.examples,
                           note=f"from v{source.number}")  # fmt: skip
        return initial

    def save_model(self, request: HttpRequest, obj: PromptVersion, form: Any, change: bool) -> None:
        if change:
            return  # immutable; label moves go through the actions
        data = {k: form.cleaned_data[k] for k in VersionForm.Meta.fields if k not in ("prompt", "note")}
        try:
            created = version_create(prompt=form.cleaned_data["prompt"], by=request.user,
                                     note=form.cleaned_data["note"], **data)  # fmt: skip
        except PromptError as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk, obj.number = created.pk, created.number

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="label history")
    def history(self, version: PromptVersion) -> SafeString:
        changes = LabelChange.objects.filter(version__prompt=version.prompt).select_related("version", "by")[:20]
        return format_html_join("", "<div>{}: v{} → {} by {} {}</div>", (
            (c.at.strftime("%Y-%m-%d %H:%M"), c.version.number, c.label, c.by or "system", c.reason)
            for c in changes))  # fmt: skip

    def _label(self, request: HttpRequest, queryset: QuerySet[PromptVersion], label: str) -> None:
        for version in queryset:
            try:
                version_label(version=version, label=label, by=request.user)
                self.message_user(request, f"{version.prompt_id} v{version.number} is now {label}")
            except PromptError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)

    @admin.action(description="Label staging", permissions=["change"])
    def to_staging(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        self._label(request, queryset, PromptVersion.Label.STAGING)

    @admin.action(description="Promote to production (through the evaluation gate)", permissions=["change"])
    def to_production(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        self._label(request, queryset, PromptVersion.Label.PRODUCTION)

    @admin.action(description="Evaluate on every dataset of the prompt (queued)", permissions=["change"])
    def evaluate(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        from django.db import transaction

        from recsys_app.llmops.evaluation import eval_run_create
        from recsys_app.llmops.tasks import eval_run_task

        for version in queryset:
            for dataset in version.prompt.datasets.exclude(name=ONLINE_SET):
                run = eval_run_create(version=version, dataset=dataset, by=request.user)
                transaction.on_commit(partial(eval_run_task.delay, run.pk))
                self.message_user(request, f"queued evaluation #{run.pk} of {version} on {dataset.name}")

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/diff/", view(self.diff_view), name="llmops_promptversion_diff"),
            path("<int:pk>/playground/", view(self.playground_view), name="llmops_promptversion_playground"),
            *super().get_urls(),
        ]

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        new = get_object_or_404(PromptVersion, pk=pk)
        if not self.has_view_permission(request, new):
            raise PermissionDenied
        others = PromptVersion.objects.filter(prompt=new.prompt).exclude(pk=pk)
        old = others.filter(pk=request.GET.get("against") or 0).first() or others.filter(number__lt=new.number).first()
        diff = version_diff(old=old, new=new) if old else ""
        context = {**self.admin_site.each_context(request), "title": f"Diff of {new}", "version": new, "old": old,
                   "others": others, "diff_lines": diff.splitlines(), "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/llmops/promptversion/diff.html", context)

    def playground_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(PromptVersion, pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        sample = version.examples[0]["input"] if version.examples else {}
        variables_text = request.POST.get("variables", json.dumps(sample, indent=2))
        context: dict[str, Any] = {
            **self.admin_site.each_context(request), "title": f"Playground: {version}", "version": version,
            "variables": variables_text, "opts": self.model._meta,
        }  # fmt: skip
        if request.method == "POST":
            # Rendering is looking; running calls the model, which costs, so it needs change rights.
            run = request.POST.get("run") == "1" and self.has_change_permission(request, version)
            context.update(_play(version, variables_text, run=run))
        return TemplateResponse(request, "admin/llmops/promptversion/playground.html", context)


def _play(version: PromptVersion, variables_text: str, *, run: bool) -> dict[str, Any]:
    try:
        variables = json.loads(variables_text)
        if not isinstance(variables, dict):
            raise ValueError("variables must be a JSON object")
        out: dict[str, Any] = {"rendered": render(version, variables)}
    except (ValueError, PromptError) as exc:
        return {"error": str(exc)}
    if run:
        try:
            completion = llm_complete(prompt=version.prompt_id, number=version.number, variables=variables,
                                      use_cache=False)  # fmt: skip
            out.update(output=completion.text, parsed=json.dumps(completion.parsed, indent=2), trace=completion.trace)
        except LLMError as exc:
            out.update(error=f"{exc.kind}: {exc}", trace=exc.trace)
    return out


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = ["started_at", "kind", "name", "use_case", "provider", "status", "latency", "tokens_in",
                    "tokens_out", "cache_hit", "parent_id"]  # fmt: skip
    list_filter = ["kind", "status", "use_case", "provider", "cache_hit"]
    search_fields = ["name", "error"]
    date_hierarchy = "started_at"
    readonly_fields = ["tree", "kind", "name", "use_case", "prompt_version", "provider", "model", "status", "error",
                       "pretty_input", "output", "parsed", "tokens_in", "tokens_out", "latency_ms", "ttft_ms", "cost",
                       "cache_hit", "attempts", "guardrails", "attributes", "started_at", "parent"]  # fmt: skip
    exclude = ["input", "root_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, trace: Trace) -> str:
        return f"{trace.latency_ms:.0f} ms"

    @admin.display(description="input")
    def pretty_input(self, trace: Trace) -> SafeString:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(trace.input, indent=2))

    @admin.display(description="trace tree")
    def tree(self, trace: Trace) -> SafeString:
        rows = format_html_join("", "<div style='margin-left:{}em'>{}<a href='{}'>{} {}</a> · {} · {} ms{}</div>", (
            (2 * depth, "▸ " if node.pk == trace.pk else "", reverse("admin:llmops_trace_change", args=[node.pk]),
             node.kind, node.name, node.status, f"{node.latency_ms:.0f}",
             f" · {node.tokens_in}+{node.tokens_out} tokens" if node.kind == Trace.Kind.LLM else "")
            for depth, node in trace_tree(trace)))  # fmt: skip
        return rows


@admin.register(CacheEntry)
class CacheEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "prompt_version", "model", "hits", "key"]
    readonly_fields = ["key", "prompt_version", "model", "input_text", "response", "hits", "created_at"]
    exclude = ["embedding"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


def built_by_code(dataset: EvalDataset | None) -> bool:
    """A prompt's red-team and benign sets are written by `safety.redteam.safety_sets_build`
    alone (the gate trusts their cases), its online set by `llmops.online` (its cases are
    production traces): no role (superusers included) edits them here."""
    return dataset is not None and dataset.name in CODE_BUILT


class CaseInline(admin.TabularInline):
    model = EvalCase
    fields = ["variables", "reference", "grounding", "source"]
    extra = 1

    def has_add_permission(self, request: HttpRequest, obj: EvalDataset | None = None) -> bool:
        return not built_by_code(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: EvalDataset | None = None) -> bool:
        return not built_by_code(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: EvalDataset | None = None) -> bool:
        return not built_by_code(obj) and super().has_delete_permission(request, obj)


class DatasetForm(forms.ModelForm):
    class Meta:
        model = EvalDataset
        fields = ["prompt", "name", "description"]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"])
        if name in CODE_BUILT:
            raise forms.ValidationError(f"'{name}' sets are built from code ({CODE_BUILT[name]})")
        return name


@admin.register(EvalDataset)
class EvalDatasetAdmin(admin.ModelAdmin):
    """Red-team, benign and online sets are shown read-only and cannot be deleted (`built_by_code`);
    the bulk delete action refuses them too (Django checks each row's delete permission)."""

    form = DatasetForm
    list_display = ["prompt", "name", "size"]
    inlines = [CaseInline]

    @admin.display(description="cases")
    def size(self, dataset: EvalDataset) -> int:
        return dataset.cases.count()

    def has_change_permission(self, request: HttpRequest, obj: EvalDataset | None = None) -> bool:
        return not built_by_code(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: EvalDataset | None = None) -> bool:
        return not built_by_code(obj) and super().has_delete_permission(request, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if built_by_code(EvalDataset.objects.filter(pk=form.instance.pk).first()):
            raise PermissionDenied  # the views refuse first; this holds if a new path forgets to
        super().save_formset(request, form, formset, change)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EvalDataset]) -> None:
        if queryset.filter(name__in=CODE_BUILT).exists():
            raise PermissionDenied
        super().delete_queryset(request, queryset)


class ResultInline(admin.TabularInline):
    model = EvalResult
    fields = ["case_variables", "output", "error", "scores", "human_rating", "human_note"]
    readonly_fields = ["case_variables", "output", "error", "scores"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="case")
    def case_variables(self, result: EvalResult) -> str:
        return json.dumps(result.case.variables)[:300]


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "version", "dataset", "model", "status", "cases", "score_summary", "seconds"]
    list_filter = ["status", "version__prompt"]
    readonly_fields = ["version", "dataset", "provider", "model", "judge", "status", "scores", "cases", "seconds",
                       "error", "trace", "created_by", "created_at"]  # fmt: skip
    inlines = [ResultInline]
    actions = ["compare"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="scores")
    def score_summary(self, run: EvalRun) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in run.scores.items())

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Human ratings entered inline go through the service, which re-scores the run."""
        formset.save(commit=False)  # fills changed_objects, which the admin's change message reads
        for result, _ in formset.changed_objects:
            eval_result_rate(result=result, rating=result.human_rating, note=result.human_note)

    @admin.action(description="Compare side by side")
    def compare(self, request: HttpRequest, queryset: QuerySet[EvalRun]) -> HttpResponse | None:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:llmops_evalrun_compare") + f"?ids={ids}")

    def get_urls(self) -> list[Any]:
        return [path("compare/", self.admin_site.admin_view(self.compare_view), name="llmops_evalrun_compare"),
                *super().get_urls()]  # fmt: skip

    def compare_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.isdigit()]
        runs = list(EvalRun.objects.filter(pk__in=ids).select_related("version", "dataset").order_by("pk"))
        metrics = sorted({metric for run in runs for metric in run.scores})
        table = [(metric, [run.scores.get(metric) for run in runs]) for metric in metrics]
        context = {**self.admin_site.each_context(request), "title": "Evaluation runs side by side", "runs": runs,
                   "table": table, "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/llmops/evalrun/compare.html", context)
