from __future__ import annotations

from django.contrib import admin

from recsys_app.lib.paginator import EstimatedCountPaginator
from recsys_app.retrieval.models import CollaborativeModel, ItemEmbedding


@admin.register(ItemEmbedding)
class ItemEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["item", "model_name", "content_hash", "updated_at"]
    list_filter = ["model_name"]
    search_fields = ["=item__external_id"]
    list_select_related = ["item"]
    raw_id_fields = ["item"]
    readonly_fields = ["item", "model_name", "content_hash", "created_at", "updated_at"]
    exclude = ["vector"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(CollaborativeModel)
class CollaborativeModelAdmin(admin.ModelAdmin):
    list_display = ["trained_at", "algorithm", "is_active", "users", "items", "interactions", "train_seconds"]
    list_filter = ["algorithm", "is_active"]
    readonly_fields = [f.name for f in CollaborativeModel._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
