"""Console pages of curation: briefs (write, run, propose) and the review page of a draft."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from curation import services
from curation.bulk import drafts_decide
from curation.checks import facts_of
from curation.enrichment import enrichment_job_create
from curation.models import Brief, Draft, EnrichmentJob, ReviewAction
from curation.pipeline import BriefBusy, brief_queue
from curation.schemas import Audience, Constraints, parsed
from curation.segments import themes_propose
from curation.tasks import queue_briefs
from recsys_app.catalog.admin import ItemAdmin
from recsys_app.catalog.models import Item


class BriefForm(forms.ModelForm):
    class Meta:
        model = Brief
        fields = ["theme", "audience", "constraints"]

    def clean_constraints(self) -> Any:
        return self._valid(Constraints, "constraints")

    def clean_audience(self) -> Any:
        return self._valid(Audience, "audience")

    def _valid(self, shape: Any, name: str) -> Any:
        try:
            return parsed(shape, self.cleaned_data.get(name) or {}, where=name).model_dump(
                mode="json", exclude_none=True
            )
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(Brief)
class BriefAdmin(admin.ModelAdmin):
    form = BriefForm
    list_display = ["theme", "origin", "status", "status_reason", "draft_count", "created_at"]
    list_filter = ["status", "origin"]
    search_fields = ["theme"]
    actions = ["run_pipeline"]
    change_list_template = "admin/curation/brief/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Brief]:
        return super().get_queryset(request).annotate(draft_total=Count("drafts"))

    @admin.display(description="drafts", ordering="draft_total")
    def draft_count(self, obj: Brief) -> int:
        return int(getattr(obj, "draft_total", 0))

    def save_model(self, request: HttpRequest, obj: Brief, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.action(description="Draft now (each run makes a new draft version)", permissions=["add"])
    def run_pipeline(self, request: HttpRequest, queryset: QuerySet[Brief]) -> None:
        queued = []
        for brief in queryset:
            try:
                queued.append(brief_queue(brief=brief).pk)
            except BriefBusy as exc:
                self.message_user(request, str(exc), level=messages.WARNING)
        queue_briefs(queued)
        if queued:
            self.message_user(request, f"{len(queued)} brief(s) queued; drafts appear in the review queue.")

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.propose_view)
        return [path("propose/", view, name="curation_brief_propose"), *super().get_urls()]

    def propose_view(self, request: HttpRequest) -> HttpResponse:
        """Themes from clusters of what an audience engages with lately, as new briefs."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Propose themes", "opts": self.model._meta,
                   "audience": request.POST.get("audience", "{}"), "count": request.POST.get("count", "3")}  # fmt: skip
        if request.method == "POST":
            try:
                audience = parsed(Audience, json.loads(context["audience"] or "{}"), where="audience")
                briefs = themes_propose(audience=audience, count=max(1, min(int(context["count"]), 8)), by=request.user)
            except (ValueError, TypeError) as exc:
                context["error"] = str(exc)
            else:
                self.message_user(request, f"{len(briefs)} theme(s) proposed: " + "; ".join(b.theme for b in briefs))
                return HttpResponseRedirect(reverse("admin:curation_brief_changelist"))
        return TemplateResponse(request, "admin/curation/brief/propose.html", context)


class MineFilter(admin.SimpleListFilter):
    title = "my queue"
    parameter_name = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("assigned", "assigned to me"), ("reviewing", "I am reviewing")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Draft]) -> QuerySet[Draft]:
        if self.value() == "assigned":
            return queryset.filter(assigned_to=request.user.pk)
        if self.value() == "reviewing":
            return queryset.filter(reviewing_by=request.user.pk)
        return queryset


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "subject", "status", "writer", "first_try_grounded", "assigned_to", "reviewing_by",
                    "created_at"]  # fmt: skip
    list_display_links = ["pk", "subject"]
    list_filter = [MineFilter, "status", "kind", "writer", "first_try_grounded",
                   ("assigned_to", admin.RelatedOnlyFieldListFilter),
                   ("job", admin.RelatedOnlyFieldListFilter)]  # fmt: skip
    list_select_related = ["brief", "item", "assigned_to", "reviewing_by"]
    search_fields = ["content__title", "brief__theme", "item__title"]
    actions = ["bulk_approve", "bulk_reject", "bulk_assign"]

    def has_review_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("curation.review_draft"))

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("curation.publish_draft"))

    @admin.action(description="Approve selected drafts…", permissions=["review"])
    def bulk_approve(self, request: HttpRequest, queryset: QuerySet[Draft]) -> HttpResponse | None:
        return self._bulk(request, queryset, "approve")

    @admin.action(description="Reject selected drafts…", permissions=["review"])
    def bulk_reject(self, request: HttpRequest, queryset: QuerySet[Draft]) -> HttpResponse | None:
        return self._bulk(request, queryset, "reject")

    @admin.action(description="Assign selected drafts to a reviewer…", permissions=["publish"])
    def bulk_assign(self, request: HttpRequest, queryset: QuerySet[Draft]) -> HttpResponse | None:
        return self._bulk(request, queryset, "assign")

    def _bulk(self, request: HttpRequest, queryset: QuerySet[Draft], decision: str) -> HttpResponse | None:
        """First a page that lists the drafts and asks to confirm; then the decision, draft by draft."""
        drafts = list(queryset.select_related("brief", "item", "reviewing_by", "assigned_to"))
        if request.POST.get("confirm") == "yes":
            try:
                reviewer = _reviewer(request) if decision == "assign" else None
                outcome = drafts_decide(drafts=drafts, by=request.user, decision=decision,
                                        reason=request.POST.get("reason", ""), reviewer=reviewer)  # fmt: skip
            except ValueError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                return None
            level = messages.WARNING if outcome.refused else messages.SUCCESS
            self.message_user(request, outcome.summary(decision), level=level)
            return None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "drafts": drafts,
                   "decision": decision, "title": f"Confirm: {decision} {len(drafts)} draft(s)",
                   "reviewers": _reviewers() if decision == "assign" else [],
                   "action_name": f"bulk_{decision}", "checkbox_name": ACTION_CHECKBOX_NAME}  # fmt: skip
        return TemplateResponse(request, "admin/curation/draft/bulk_confirm.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # drafts come from the pipeline

    @admin.display(description="draft")
    def subject(self, obj: Draft) -> str:
        return str(obj)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.review_view)
        return [path("<int:pk>/review/", view, name="curation_draft_review"), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        return HttpResponseRedirect(reverse("admin:curation_draft_review", args=[object_id]))

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        draft = get_object_or_404(Draft.objects.select_related("brief", "item", "prompt_version", "trace"), pk=pk)
        if not self.has_view_permission(request, draft):
            raise PermissionDenied
        if request.method == "POST":
            self._act(request, draft, request.POST.get("action", ""))
            return HttpResponseRedirect(request.path)
        return TemplateResponse(request, "admin/curation/draft/review.html", self._context(request, draft))

    def _act(self, request: HttpRequest, draft: Draft, action: str) -> None:
        handlers = {
            "claim": lambda: services.draft_claim(draft=draft, by=request.user),
            "release": lambda: services.draft_release(draft=draft, by=request.user),
            "edit": lambda: services.draft_edit(draft=draft, by=request.user, revision=_revision(request),
                                                content=_posted_content(request, draft)),
            "approve": lambda: _edit_then(request, draft, services.draft_approve),
            "reject": lambda: services.draft_reject(draft=draft, by=request.user, revision=_revision(request),
                                                    reason=request.POST.get("reason", "")),
            "assign": lambda: services.draft_assign(draft=draft, by=request.user, reviewer=_reviewer(request)),
            "publish": lambda: services.collection_publish(
                draft=draft, by=request.user, starts_at=_when(request, "starts_at"), ends_at=_when(request, "ends_at"),
                audience=json.loads(request.POST.get("audience") or "{}")),
            "unpublish": lambda: services.collection_unpublish(draft=draft, by=request.user),
        }  # fmt: skip
        if action not in handlers:
            self.message_user(request, f"unknown action '{action}'", level=messages.ERROR)
            return
        try:
            handlers[action]()
        except (services.ReviewError, PermissionDenied, ValueError) as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
        else:
            self.message_user(request, f"Draft #{draft.pk}: {action} done.")

    def _context(self, request: HttpRequest, draft: Draft) -> dict[str, Any]:
        items = list(draft.items.select_related("item"))
        facts = facts_of([entry.item_id for entry in items] + ([draft.item_id] if draft.item_id else []))
        notes = {note["item_id"]: note["note"] for note in draft.content.get("notes", [])}
        rows = [{"entry": e, "facts": facts.get(e.item_id), "note": notes.get(e.item.external_id),
                 "kept": e.item.external_id in notes} for e in items]  # fmt: skip
        reviewers = _reviewers()
        queue = Draft.objects.filter(status=Draft.Status.PENDING_REVIEW).exclude(pk=draft.pk).order_by("created_at")
        return {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"Review: {draft}",
            "draft": draft, "rows": rows, "item_facts": facts.get(draft.item_id or 0),
            "holding": draft.reviewing_by_id == request.user.pk, "reviewers": reviewers,
            "can_publish": request.user.has_perm("curation.publish_draft"),
            "actions_log": draft.actions.select_related("by"), "checks": draft.evidence.get("checks", {}),
            "claims": draft.evidence.get("claims", []), "faithfulness": draft.evidence.get("faithfulness", {}),
            "retrieved_count": draft.evidence.get("retrieved_count"), "audience_json": json.dumps(draft.audience),
            "generated_lines": services.content_lines(draft.generated, kind=draft.kind),
            "saved_diff": services.content_diff(draft.generated, draft.content, kind=draft.kind).splitlines()[2:],
            "next_pk": queue.values_list("pk", flat=True).first(),
        }  # fmt: skip


def _reviewers() -> QuerySet[Any]:
    may_review = Q(groups__permissions__codename="review_draft") | Q(user_permissions__codename="review_draft")
    return get_user_model().objects.filter(Q(is_superuser=True) | may_review, is_active=True).distinct()


def _reviewer(request: HttpRequest) -> Any:
    return get_object_or_404(get_user_model(), pk=request.POST.get("reviewer") or 0)


def _revision(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("revision", ""))
    except ValueError:
        raise ValueError("revision: missing; reload the page") from None


def _posted_content(request: HttpRequest, draft: Draft) -> dict[str, Any]:
    if draft.kind == Draft.Kind.ENRICHMENT:
        tags = [tag.strip() for tag in request.POST.get("tags", "").split(",") if tag.strip()]
        return {"tags": tags, "description": request.POST.get("description", "").strip()}
    kept = request.POST.getlist("keep")
    notes = [{"item_id": item_id, "note": request.POST.get(f"note:{item_id}", "").strip()} for item_id in kept]
    return {"title": request.POST.get("title", "").strip(), "description": request.POST.get("description", "").strip(),
            "notes": notes}  # fmt: skip


def _edit_then(request: HttpRequest, draft: Draft, decide: Any) -> Draft:
    """Approve what the reviewer sees: unsaved edits in the form are saved first."""
    revision = _revision(request)
    edited = services.draft_edit(
        draft=draft, by=request.user, revision=revision, content=_posted_content(request, draft)
    )
    return decide(draft=edited, by=request.user, revision=edited.revision)


def _when(request: HttpRequest, name: str) -> datetime | None:
    raw = request.POST.get(name, "").strip()
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise ValueError(f"{name}: '{raw}' is not a date and time")
    return timezone.make_aware(value) if timezone.is_naive(value) else value


@admin.register(ReviewAction)
class ReviewActionAdmin(admin.ModelAdmin):
    list_display = ["at", "draft_link", "action", "by", "revision", "reason"]
    list_filter = ["action"]
    list_select_related = ["draft", "by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="draft")
    def draft_link(self, obj: ReviewAction) -> str:
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:curation_draft_review", args=[obj.draft_id]), obj.draft_id
        )


ENRICH_MAX_ITEMS = 5000  # items one console action may select for a job


@admin.action(description="Enrich: draft tags and a description for review", permissions=["change"])
def enrich_items(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Item]) -> None:
    """A job over the selected items (thin or not), drafted by the worker within the default
    token budget; reviewers decide in Curation → Drafts."""
    ids = list(queryset.values_list("external_id", flat=True)[:ENRICH_MAX_ITEMS])
    job = enrichment_job_create(filter={"item_ids": ids, "thin_only": False}, budget={"items": len(ids)},
                                origin=EnrichmentJob.Origin.CONSOLE, by=request.user)  # fmt: skip
    link = reverse("admin:curation_enrichmentjob_change", args=[job.pk])
    modeladmin.message_user(request, format_html(
        'Enrichment job <a href="{}">#{}</a> queued for {} item(s); its drafts wait for review.', link, job.pk, len(ids)
    ))  # fmt: skip


# The catalog's item list gets curation's action here: catalog does not import curation.
ItemAdmin.actions = [*(ItemAdmin.actions or []), enrich_items]  # type: ignore[misc]


@admin.register(EnrichmentJob)
class EnrichmentJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "origin", "status", "progress", "tokens", "prompt_version", "created_by", "created_at",
                    "drafts_link"]  # fmt: skip
    list_filter = ["status", "origin"]
    list_select_related = ["prompt_version", "created_by"]
    readonly_fields = ["filter", "budget_items", "budget_tokens", "origin", "status", "status_reason",
                       "prompt_version", "selected", "drafted", "failed_items", "tokens_used", "claimed_by",
                       "created_by", "created_at", "finished_at"]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from the item list's "Enrich" action, the API or the beat

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="drafted / selected")
    def progress(self, obj: EnrichmentJob) -> str:
        failed = f" ({obj.failed_items} failed)" if obj.failed_items else ""
        return f"{obj.drafted} / {obj.selected} of at most {obj.budget_items}{failed}"

    @admin.display(description="tokens")
    def tokens(self, obj: EnrichmentJob) -> str:
        return f"{obj.tokens_used:,} / {obj.budget_tokens:,}"

    @admin.display(description="drafts")
    def drafts_link(self, obj: EnrichmentJob) -> str:
        url = reverse("admin:curation_draft_changelist") + f"?job__id__exact={obj.pk}"
        return format_html('<a href="{}">review</a>', url)
