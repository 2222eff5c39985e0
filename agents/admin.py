"""Console pages of the agent: past sessions with their turns, and a page to chat with it."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path

from agents.agent import MAX_MESSAGE, session_start
from agents.apis import stream_turn
from agents.models import ChatSession, ChatTurn
from recsys_app.catalog.models import EndUser


class ChatTurnInline(admin.TabularInline):
    model = ChatTurn
    fields = ["number", "message", "intent", "reply", "cards", "constraints", "latency_ms", "trace"]
    readonly_fields = ["number", "message", "intent", "reply", "cards", "constraints", "latency_ms", "trace"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["pk", "end_user", "operator", "turn_count", "updated_at"]
    list_select_related = ["end_user", "operator"]
    readonly_fields = ["end_user", "operator", "memory", "created_at", "updated_at"]
    inlines = [ChatTurnInline]
    change_list_template = "admin/agents/chatsession/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatSession]:
        return super().get_queryset(request).annotate(turn_total=Count("turns"))

    @admin.display(description="turns", ordering="turn_total")
    def turn_count(self, obj: ChatSession) -> int:
        return int(getattr(obj, "turn_total", 0))

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("try/", view(self.try_view), name="agents_chatsession_try"),
            path("try/<uuid:pk>/message/", view(self.message_view), name="agents_chatsession_message"),
            *super().get_urls(),
        ]

    def try_view(self, request: HttpRequest) -> HttpResponse:
        """Chat as an end user (or anonymously), with the reply streamed as it is written.
        Each turn calls the model, which costs, so it needs the right to start sessions."""
        if not _may_chat(request):
            raise PermissionDenied
        external_id = request.GET.get("user_id", "").strip()
        user = EndUser.objects.filter(external_id=external_id).first() if external_id else None
        session = session_start(end_user=user, operator=request.user)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Chat with the agent",
                   "session": session, "user_id": external_id, "unknown_user": bool(external_id and user is None),
                   "max_message": MAX_MESSAGE}  # fmt: skip
        return TemplateResponse(request, "admin/agents/chatsession/try.html", context)

    def message_view(self, request: HttpRequest, pk: str) -> HttpResponse | StreamingHttpResponse:
        if request.method != "POST" or not _may_chat(request):
            raise PermissionDenied
        session = get_object_or_404(ChatSession.objects.select_related("end_user"), pk=pk, operator=request.user)
        try:
            message = str(json.loads(request.body or b"{}").get("message", ""))
        except ValueError:
            return HttpResponseBadRequest("body: not JSON")
        if len(message) > MAX_MESSAGE:
            return HttpResponseBadRequest(f"message: at most {MAX_MESSAGE} characters")
        response = StreamingHttpResponse(stream_turn(session, message), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        return response


def _may_chat(request: HttpRequest) -> bool:
    """Sessions are started here, never added through the form; chatting is the right to add one."""
    return bool(request.user.has_perm("agents.add_chatsession"))
