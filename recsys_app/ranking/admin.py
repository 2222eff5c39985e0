from __future__ import annotations

from django.contrib import admin

from recsys_app.ranking.models import BusinessRule, Surface


@admin.register(Surface)
class SurfaceAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "updated_at"]


@admin.register(BusinessRule)
class BusinessRuleAdmin(admin.ModelAdmin):
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
