"""The job monitor: every Celery run with its status, progress, duration and log; retry, and
buttons that start the common jobs (registered here, not in ops, because they span every app)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from recsys_app.console.jobs import JOBS
from recsys_app.ops.models import TaskRun
from recsys_app.ops.services import job_retry


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "task_name", "status", "progress_bar", "duration", "requested_by", "worker"]
    list_filter = ["status", "task_name"]
    list_select_related = ["requested_by"]
    search_fields = ["celery_id", "task_name"]
    readonly_fields = [f.name for f in TaskRun._meta.fields if f.name != "log"] + ["log_text"]
    exclude = ["log"]
    actions = ["retry"]
    change_list_template = "admin/ops/taskrun/change_list.html"
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are started with the buttons above the list

    @admin.display(description="progress")
    def progress_bar(self, run: TaskRun) -> SafeString:
        if run.progress is None:
            return format_html("<small>{}</small>", run.progress_note)
        bar = '<progress max="1" value="{}" style="width:70px"></progress> <small>{}</small>'
        return format_html(bar, f"{run.progress:.3f}", run.progress_note)

    @admin.display(description="duration", ordering="finished_at")
    def duration(self, run: TaskRun) -> str:
        return "" if run.duration_s is None else f"{run.duration_s:.1f} s"

    @admin.display(description="log")
    def log_text(self, run: TaskRun) -> SafeString:
        return format_html('<pre style="white-space:pre-wrap;max-height:30em;overflow:auto">{}</pre>',
                           run.log or "(no log lines)")  # fmt: skip

    @admin.action(description="Run again with the same arguments", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[TaskRun]) -> None:
        for run in queryset:
            try:
                again = job_retry(run=run, by=request.user)
                self.message_user(request, f"{run.task_name} queued again (#{again.pk}).")
            except ValueError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {**(extra_context or {}), "jobs": JOBS.values(),
                   "can_start": request.user.has_perm("ops.add_taskrun")}  # fmt: skip
        return super().changelist_view(request, context)
