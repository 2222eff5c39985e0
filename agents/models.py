"""Chat sessions with the recommendation agent: their turns, what the user asked for so far,
and the items the agent's tools returned (the only items it may show)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from recsys_app.catalog.models import EndUser, Item


class ChatSession(models.Model):
    """One conversation, of an end user (API) or of an operator trying the agent (console).

    `memory` holds the constraints gathered so far (category, price range, query, liked and
    rejected items); it carries over from the user's previous session with the same client
    application, only with their consent to personalisation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    end_user = models.ForeignKey(EndUser, null=True, blank=True, on_delete=models.CASCADE, related_name="chats")
    operator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    token = models.ForeignKey(
        "accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The client application that opened it (directly or through an end-user token); only it may "
        "use the session.",
    )  # fmt: skip
    memory = models.JSONField(default=dict, blank=True)
    simulated = models.BooleanField(default=False, db_default=False, help_text="Opened by a user simulator.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"chat {self.pk}"


class ChatTurn(models.Model):
    """One message and the agent's answer: reply text, item cards, the constraints it acted
    on, and the trace tree of the turn (routing, each tool call, the generation)."""

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="turns")
    number = models.PositiveIntegerField()
    message = models.TextField()
    intent = models.CharField(max_length=32, blank=True)
    constraints = models.JSONField(default=dict, blank=True)
    reply = models.TextField(blank=True)
    reply_source = models.CharField(
        max_length=16,
        default="template",
        help_text="Who phrased the reply: 'model' (checked), 'mixed' (the model's sentence with catalog-made ones) "
        "or 'template'.",
    )
    cards = models.JSONField(default=list, blank=True, help_text="Items shown, each from a tool result.")
    steps = models.JSONField(default=list, blank=True, help_text="Tool calls: name, arguments, item ids returned.")
    trace = models.ForeignKey("llmops.Trace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    latency_ms = models.FloatField(default=0.0)
    request_id = models.UUIDField(
        default=uuid.uuid4, editable=False, help_text="Clients send it back with events on the cards (attribution)."
    )
    assignments = models.JSONField(default=dict, blank=True, help_text="Experiments on 'chat' the unit was in.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["session", "number"]
        constraints = [models.UniqueConstraint(fields=["session", "number"], name="chat_turn_number_unique")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.number}"


class SessionItem(models.Model):
    """The per-session candidate store: every item a tool returned in this session. Cards are
    drawn from here only, so the agent cannot show an item no tool found."""

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    tool = models.CharField(max_length=32)
    turn = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "item", "tool"], name="session_item_unique")]

    def __str__(self) -> str:
        return f"{self.session_id}: {self.item_id} via {self.tool}"
