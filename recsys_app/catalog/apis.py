"""REST endpoints for ingestion (ingest scope) and catalog reads (serve scope)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recsys_app.accounts.permissions import AdminScope, IngestScope, ServeScope
from recsys_app.catalog import selectors, services
from recsys_app.catalog.models import EndUser, Item
from recsys_app.catalog.schemas import CreatorIn, EndUserIn, ItemIn
from recsys_app.lib.errors import ApiError
from recsys_app.lib.rows import RowError
from recsys_app.lib.traffic import is_simulated, simulated_traffic


def batch_from_request(request: Request, key: str, limit: int) -> list[Any]:
    """The list under `key` in the JSON body; request-level mistakes are a 4xx naming them."""
    body = request.data
    if not isinstance(body, dict):
        raise ApiError(f"The body must be a JSON object with a '{key}' list.", code="invalid_body")
    unknown = sorted(set(body) - {key})
    if unknown:
        raise ApiError(
            f"Unknown top-level field(s): {', '.join(unknown)}.", code="unknown_field", details={"allowed": [key]}
        )
    rows = body.get(key)
    if not isinstance(rows, list):
        raise ApiError(f"'{key}' must be a list.", code="invalid_body")
    if not rows:
        raise ApiError(f"'{key}' is empty.", code="empty_batch")
    if len(rows) > limit:
        raise ApiError(
            f"'{key}' has {len(rows)} rows; the limit is {limit} per request.",
            code="batch_too_large",
            http_status=413,
        )
    return rows


def _errors(errors: list[RowError]) -> list[dict[str, Any]]:
    return [e.as_dict() for e in errors]


class RowErrorOut(BaseModel):
    index: int = Field(description="Position of the row in the request list.")
    field: str = Field(description="The field at fault, or '(row)' for the row as a whole.")
    message: str


class UpsertResultOut(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[RowErrorOut]


class EventsResultOut(BaseModel):
    received: int
    stored: int
    duplicates: int = Field(description="Rows whose idempotency key was already stored.")
    rejected: int
    errors: list[RowErrorOut]


class EventDoc(BaseModel):
    """One event as the API documents it; `events.validate` is what checks it."""

    user_id: str = Field(max_length=255)
    item_id: str = Field(max_length=255)
    type: str = Field(max_length=32, description="A configured interaction type, e.g. click, purchase.")
    timestamp: str | float = Field(description="ISO-8601 with a timezone offset, or epoch seconds.")
    value: float | None = None
    surface: str = Field("", max_length=64)
    context: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, max_length=128, description="Defaults to a hash of the content.")
    request_id: str | None = Field(None, description="UUID of the recommendation response the event answers.")


class EventsIn(BaseModel):
    events: list[EventDoc]
    simulated: bool = Field(False, description="The batch comes from a user simulator (as `?simulated=true` says): "
                            "its events are marked, left out of training and labelled in reports.")


class _UpsertApi(APIView):
    permission_classes = [IngestScope]
    key = ""

    def post(self, request: Request) -> Response:
        rows = batch_from_request(request, self.key, settings.UPSERT_MAX_BATCH)
        result = self.upsert(rows)
        return Response(
            {
                "received": result.received,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "rejected": result.rejected,
                "errors": _errors(result.errors),
            }
        )

    def upsert(self, rows: list[Any]) -> services.UpsertResult:
        raise NotImplementedError


class CreatorsIn(BaseModel):
    creators: list[CreatorIn] = Field(max_length=5000)


class ItemsIn(BaseModel):
    items: list[ItemIn] = Field(max_length=5000)


class EndUsersIn(BaseModel):
    users: list[EndUserIn] = Field(max_length=5000)


_UPSERT_DOC = (
    "Insert or replace rows by external_id: each row is the full representation, omitted optional "
    "fields take their defaults. Invalid rows are reported by index and field; the valid rest is stored."
)


class CreatorsUpsertApi(_UpsertApi):
    key = "creators"

    @extend_schema(request=CreatorsIn, responses=UpsertResultOut, description=_UPSERT_DOC)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def upsert(self, rows: list[Any]) -> services.UpsertResult:
        return services.creators_upsert(rows=rows)


class ItemsUpsertApi(_UpsertApi):
    key = "items"

    @extend_schema(request=ItemsIn, responses=UpsertResultOut, description=_UPSERT_DOC)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def upsert(self, rows: list[Any]) -> services.UpsertResult:
        return services.items_upsert(rows=rows)


class EndUsersUpsertApi(_UpsertApi):
    key = "users"

    @extend_schema(request=EndUsersIn, responses=UpsertResultOut, description=_UPSERT_DOC)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def upsert(self, rows: list[Any]) -> services.UpsertResult:
        return services.end_users_upsert(rows=rows)


class EventsIngestApi(APIView):
    permission_classes = [IngestScope]

    @extend_schema(
        request=EventsIn,
        responses=EventsResultOut,
        description=(
            "Store up to EVENTS_MAX_BATCH events. Rows with errors are returned by index and field; "
            "valid rows are stored; repeats of an idempotency key are ignored."
        ),
    )
    def post(self, request: Request) -> Response:
        rows = batch_from_request(request, "events", settings.EVENTS_MAX_BATCH)
        with simulated_traffic(_simulated_field(request) or is_simulated()):
            result = services.interactions_ingest(rows=rows)
        return Response(
            {
                "received": result.received,
                "stored": result.stored,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "errors": _errors(result.errors),
            }
        )


def _simulated_field(request: Request) -> bool:
    value = request.data.get("simulated", False) if isinstance(request.data, dict) else False
    if not isinstance(value, bool):
        raise ApiError(f"simulated: {value!r} is not true or false.", code="invalid",
                       details={"simulated": ["Must be a boolean."]})  # fmt: skip
    return value


class ItemOut(serializers.ModelSerializer):
    creator_id = serializers.CharField(source="creator.external_id", default=None, allow_null=True)

    class Meta:
        model = Item
        fields = [
            "external_id",
            "kind",
            "title",
            "description",
            "category_path",
            "tags",
            "price",
            "currency",
            "attributes",
            "creator_id",
            "is_available",
            "created_at",
            "updated_at",
        ]


class _ByCreatedPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class ItemListApi(ListAPIView):
    permission_classes = [ServeScope]
    serializer_class = ItemOut
    pagination_class = _ByCreatedPagination

    def get_queryset(self) -> Any:
        return selectors.item_list(category=self.request.query_params.get("category"))


class ItemDetailApi(RetrieveAPIView):
    permission_classes = [ServeScope]
    serializer_class = ItemOut
    lookup_field = "external_id"
    lookup_value_regex = "[^/]+"

    def get_object(self) -> Item:
        return selectors.item_get(external_id=self.kwargs["external_id"])


class EndUserOut(serializers.ModelSerializer):
    class Meta:
        model = EndUser
        fields = [
            "external_id",
            "attributes",
            "consent_personalization",
            "consent_generative",
            "consent_training",
            "simulated",
            "created_at",
            "updated_at",
        ]


class EndUserDetailApi(RetrieveAPIView):
    permission_classes = [AdminScope]
    serializer_class = EndUserOut

    def get_object(self) -> EndUser:
        return selectors.end_user_get(external_id=self.kwargs["external_id"])
