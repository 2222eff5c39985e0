from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from recsys_app.catalog.models import (
    Creator,
    EndUser,
    Facet,
    ImportRun,
    Impression,
    Interaction,
    InteractionType,
    Item,
)
from recsys_app.lib.paginator import EstimatedCountPaginator


class BigTableAdmin(admin.ModelAdmin):
    """Lists over tables with millions of rows: no full counts, no per-row joins, newest rows
    first by primary key (an index walk; ordering by a time column with only a BRIN index
    sorts the whole table), filters offering the values of recent rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    ordering = ["-id"]


RECENT_ROWS = 10_000


def recent_values_filter(field: str) -> type[admin.SimpleListFilter]:
    """A filter on `field` offering the values of the newest RECENT_ROWS rows: a distinct over
    the whole table costs a scan of millions of rows on every page view."""

    class RecentValues(admin.SimpleListFilter):
        title = field
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            recent = model_admin.model.objects.order_by("-id").values("id")[:RECENT_ROWS]
            values = model_admin.model.objects.filter(id__in=recent).order_by(field).values_list(field, flat=True)
            return [(value, value) for value in values.distinct() if value]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    return RecentValues


@admin.register(Creator)
class CreatorAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "group", "created_at"]
    list_filter = ["group"]
    search_fields = ["external_id", "name"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "title", "kind", "category_path", "price", "currency", "is_available", "creator"]
    list_filter = ["kind", "is_available", "currency"]
    search_fields = ["external_id", "title", "category_path"]
    list_select_related = ["creator"]
    raw_id_fields = ["creator"]
    readonly_fields = ["content_hash", "updated_at"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(EndUser)
class EndUserAdmin(admin.ModelAdmin):
    list_display = ["external_id", "consent_personalization", "consent_generative", "consent_training", "created_at"]
    list_filter = ["consent_personalization", "consent_generative", "consent_training"]
    search_fields = ["external_id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False


@admin.register(InteractionType)
class InteractionTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "weight", "is_negative", "description"]
    list_editable = ["weight"]

    @admin.display(boolean=True)
    def is_negative(self, obj: InteractionType) -> bool:
        return obj.is_negative


@admin.register(Interaction)
class InteractionAdmin(BigTableAdmin):
    list_display = ["occurred_at", "user", "type", "item", "value", "surface"]
    list_filter = ["type", recent_values_filter("surface")]
    search_fields = ["=user__external_id", "=item__external_id", "=idempotency_key"]
    list_select_related = ["user", "item", "type"]
    raw_id_fields = ["user", "item"]
    date_hierarchy = None


@admin.register(Impression)
class ImpressionAdmin(BigTableAdmin):
    list_display = ["shown_at", "request_id", "user_external_id", "position", "item", "source", "experiment", "variant"]
    list_filter = [recent_values_filter(name) for name in ("surface", "source", "experiment")]
    search_fields = ["=request_id", "=recommendation_id", "=user_external_id"]
    list_select_related = ["user", "item"]
    raw_id_fields = ["user", "item"]


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "kind",
        "source",
        "status",
        "rows_done",
        "rows_stored",
        "rows_unchanged",
        "rows_rejected",
    ]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in ImportRun._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(Facet)
class FacetAdmin(admin.ModelAdmin):
    """What the agent's parser knows the catalog by: discovered from the items, never edited."""

    list_display = ["name", "source", "value_type", "items", "range_or_values", "refreshed_at"]
    list_filter = ["source", "value_type"]
    readonly_fields = [f.name for f in Facet._meta.fields]
    actions = ["refresh"]

    @admin.display(description="range / top values")
    def range_or_values(self, facet: Facet) -> str:
        if facet.value_type == Facet.ValueType.NUMBER:
            return f"{facet.minimum:g} to {facet.maximum:g}"
        top = list(facet.values.items())[:6]
        return ", ".join(f"{value} ({count:,})" for value, count in top)

    @admin.action(description="Rediscover every facet now", permissions=["refresh"])
    def refresh(self, request: HttpRequest, queryset: QuerySet[Facet]) -> None:
        from recsys_app.catalog.facets import facets_refresh

        stats = facets_refresh()
        self.message_user(request, f"{stats.facets} facets, {stats.values} values, in {stats.seconds:.2f} s.")

    def has_refresh_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("catalog.change_item"))  # operators, who edit the catalog

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Facet | None = None) -> bool:
        return False
