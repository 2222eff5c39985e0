"""Chat with the recommendation agent (serve scope): start a session, send messages; replies
come whole (JSON) or streamed as server-sent events."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.agent import MAX_MESSAGE, session_start, turn_provenance, turn_run
from agents.models import ChatSession, ChatTurn
from recsys_app.accounts.end_users import EndUserGrant
from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.permissions import ServeScope, acting_user, issuing_token
from recsys_app.accounts.ratelimit import rate_hit
from recsys_app.catalog.models import EndUser
from recsys_app.lib.errors import ApiError
from recsys_app.llmops.models import Trace


class SessionIn(serializers.Serializer):
    user_id = serializers.CharField(required=False, max_length=255, help_text="The end user chatting, if known.")


class SessionOut(BaseModel):
    session_id: str
    memory: dict[str, Any] = Field(description="Preferences carried over (with the user's consent).")


class MessageIn(serializers.Serializer):
    message = serializers.CharField(allow_blank=True, max_length=MAX_MESSAGE, trim_whitespace=False)
    stream = serializers.BooleanField(
        default=False,
        help_text="Answer as server-sent events: `token` (the reply as it is written), then `done` with the turn. "
        "The `done` reply is the checked one: show it in place of the streamed tokens.",
    )
    attributes = serializers.DictField(
        child=serializers.JSONField(), required=False, allow_empty=True,
        help_text='Hard filters on item attributes the client holds, e.g. {"color": "red"}; kept for the session '
        "until replaced ({} clears them).",
    )  # fmt: skip

    def validate_attributes(self, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool):
                raise serializers.ValidationError(f"{key}: a string, number or boolean")
        return value


class CardOut(BaseModel):
    item_id: str
    title: str
    category: str
    year: int | None
    price: str | None
    currency: str
    tags: list[str] = Field(default_factory=list)


class TurnOut(BaseModel):
    session_id: str
    turn: int
    intent: str = Field(
        description="search, recommend, similar, details, compare, history, collections, clarify, off_topic, "
        "no_match or refused."
    )
    reply: str
    cards: list[CardOut] = Field(description="Items from the agent's tools that meet the stated constraints.")
    constraints: dict[str, Any]
    trace_id: int | None
    generated: bool = Field(
        description="True when the reply's words are the model's, or (reply_source 'mixed') its sentence "
        "between catalog-made ones; false for fixed or catalog-made sentences (refusals, questions, a "
        "replaced reply)."
    )
    provenance: dict[str, Any] | None = Field(description="With a generated reply: model, prompt, prompt_version.")
    reply_source: str = Field(
        description="'model', 'mixed' (the model's sentence with catalog-made ones) or 'template'."
    )
    degraded: list[str] = Field(
        default_factory=list,
        description="Model calls of this turn that gave no answer, with why (e.g. 'agent_reply: budget: use case "
        "'agent' has used its 20000 tokens for today'); the turn then used its catalog-made fallback.",
    )
    request_id: str = Field(description="Send it back with events on the cards: they count for this turn.")
    assignments: dict[str, str] = Field(description="Experiments on 'chat' the session or user is in.")


class ChatSessionCreateApi(APIView):
    """A session belongs to the client application that opens it: only that application's
    token, or an end-user token it minted for the session's user, may send messages to it."""

    permission_classes = [ServeScope]

    @extend_schema(request=SessionIn, responses={201: SessionOut})
    def post(self, request: Request) -> Response:
        data = SessionIn(data=request.data)
        data.is_valid(raise_exception=True)
        external_id = acting_user(request, data.validated_data.get("user_id"))
        user = EndUser.objects.filter(external_id=external_id).first() if external_id else None
        if external_id and user is None:
            raise ApiError(f"No end user with external_id '{external_id}'.", code="not_found", http_status=404)
        token = issuing_token(request)
        if not isinstance(request.auth, EndUserGrant):  # an end user is limited as a user, not as the client
            client = f"token:{token.pk}" if token else f"operator:{request.user.pk}"
            _limit(f"chat-sessions-{client}", settings.CHAT_SESSIONS_PER_MINUTE_PER_TOKEN,
                   "new chat sessions a minute per client")  # fmt: skip
        if user is not None:
            _limit(f"chat-sessions-user:{user.pk}", settings.CHAT_SESSIONS_PER_MINUTE_PER_USER,
                   "new chat sessions a minute per end user")  # fmt: skip
        operator = request.user if token is None else None
        session = session_start(end_user=user, operator=operator, token=token)
        return Response({"session_id": str(session.pk), "memory": session.memory}, status=201)


def session_of(request: Request, session_id: str) -> ChatSession:
    """The session, if the caller owns it; any other caller gets the same 404 as for a session
    that does not exist (nothing tells them it does)."""
    sessions = ChatSession.objects.select_related("end_user").filter(pk=session_id)
    auth = request.auth
    if isinstance(auth, EndUserGrant):
        sessions = sessions.filter(token=auth.issuer, end_user=auth.end_user)
    elif isinstance(auth, ApiToken):  # the token, or the one it was rotated from (same client)
        sessions = sessions.filter(token_id__in=auth.client_ids)
    else:
        sessions = sessions.filter(token__isnull=True, operator=request.user.pk)
    session = sessions.first()
    if session is None:
        raise ApiError(f"No chat session '{session_id}'.", code="not_found", http_status=404)
    return session


def turn_body(turn: ChatTurn) -> dict[str, Any]:
    provenance = turn_provenance(turn)
    return {
        "session_id": str(turn.session_id), "turn": turn.number, "intent": turn.intent, "reply": turn.reply,
        "cards": turn.cards, "constraints": turn.constraints, "trace_id": turn.trace_id,
        "generated": provenance is not None, "provenance": provenance, "degraded": _degraded(turn),
        "reply_source": turn.reply_source, "request_id": str(turn.request_id), "assignments": turn.assignments,
    }  # fmt: skip


def _degraded(turn: ChatTurn) -> list[str]:
    if not turn.trace_id:
        return []
    failed = Trace.objects.filter(root_id=turn.trace_id, kind=Trace.Kind.LLM, status=Trace.Status.ERROR)
    return [f"{name}: {error}"[:300] for name, error in failed.order_by("pk").values_list("name", "error")]


class ChatMessageApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(request=MessageIn, responses=TurnOut)
    def post(self, request: Request, session_id: str) -> Any:
        data = MessageIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = session_of(request, session_id)
        message, attributes = data.validated_data["message"], data.validated_data.get("attributes")
        _chat_rate_check(session, by_end_user=isinstance(request.auth, EndUserGrant))
        if data.validated_data["stream"]:
            response = StreamingHttpResponse(
                stream_turn(session, message, attributes), content_type="text/event-stream"
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
            return response
        return Response(turn_body(turn_run(session=session, message=message, attributes=attributes)))


def _chat_rate_check(session: ChatSession, *, by_end_user: bool) -> None:
    """Messages a minute per end user across all their sessions (per session when anonymous),
    and per client application across all its users when the client itself calls (an end user
    with their own token is held to the per-user limit, so one cannot use up the client's)."""
    who = f"user:{session.end_user_id}" if session.end_user_id else f"session:{session.pk}"
    _limit(f"chat-{who}", settings.CHAT_MESSAGES_PER_MINUTE, "chat messages a minute per user")
    if session.token_id is not None and not by_end_user:
        _limit(f"chat-token:{session.token_id}", settings.CHAT_MESSAGES_PER_MINUTE_PER_TOKEN,
               "chat messages a minute per client")  # fmt: skip


def _limit(key: str, limit: int, what: str) -> None:
    hit = rate_hit(key, 60)
    if hit.count > limit:
        raise ApiError(f"At most {limit} {what}; retry in {hit.reset_s} s.", code="chat_rate_limited",
                       http_status=429, details={"retry_after_s": hit.reset_s})  # fmt: skip


def stream_turn(session: ChatSession, message: str, attributes: dict[str, Any] | None = None) -> Iterator[str]:
    """The turn runs in a thread; its tokens, then the stored turn, are sent as they come.
    The final `done` event carries the checked reply, which replaces the streamed text."""
    events: queue.Queue[tuple[str, Any] | None] = queue.Queue()

    def work() -> None:
        try:
            turn = turn_run(session=session, message=message, attributes=attributes,
                            on_token=lambda text: events.put(("token", text)))  # fmt: skip
            events.put(("done", turn_body(turn)))
        except Exception as exc:  # reported to the client as an event, never a broken stream
            events.put(("error", {"message": f"{type(exc).__name__}: {exc}"[:500]}))
        finally:
            connection.close()  # the thread's own connection
            events.put(None)

    threading.Thread(target=work, name="chat-turn", daemon=True).start()
    while (event := events.get()) is not None:
        yield f"event: {event[0]}\ndata: {json.dumps(event[1])}\n\n"
