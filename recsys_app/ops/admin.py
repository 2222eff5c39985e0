from __future__ import annotations

from django.contrib import admin

from recsys_app.ops.models import TaskRun


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "task_name", "status", "duration_s", "worker", "celery_id"]
    list_filter = ["status", "task_name"]
    search_fields = ["celery_id", "task_name"]
    readonly_fields = [f.name for f in TaskRun._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
