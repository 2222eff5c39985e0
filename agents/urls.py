from django.urls import path

from agents import apis

urlpatterns = [
    path("chat/sessions", apis.ChatSessionCreateApi.as_view(), name="chat-session-create"),
    path("chat/sessions/<uuid:session_id>/messages", apis.ChatMessageApi.as_view(), name="chat-message"),
]
