"""Published collections for client apps (serve scope; every one is labelled as generated, with
what wrote it and who approved it), and enrichment jobs for catalog clients (ingest scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from curation.enrichment import enrichment_job_create
from curation.models import EnrichmentJob
from curation.schemas import EnrichmentBudget, EnrichmentFilter
from curation.selectors import collection_summary, collections_live, enrichment_job_summary
from curation.serving import collection_shown, collections_served
from recsys_app.accounts.permissions import IngestScope, ServeScope, acting_user
from recsys_app.lib.errors import ApiError


class CollectionsParams(serializers.Serializer):
    user_id = serializers.CharField(required=False, max_length=255, help_text="Only collections for this user.")
    session_id = serializers.CharField(
        required=False, max_length=128, help_text="The client's session (experiments that split by session)."
    )


class ProvenanceOut(BaseModel):
    generated: bool
    writer: str = Field(description="'model', or 'template' when words were made from catalog facts.")
    model: str
    prompt: str | None
    prompt_version: int | None
    edited: bool = Field(description="A reviewer changed the generated words.")
    approved_by: str | None
    approved_at: str | None


class CollectionOut(BaseModel):
    id: int
    title: str
    description: str
    items: int
    audience: dict[str, Any]
    starts_at: datetime | None
    ends_at: datetime | None
    published_at: datetime | None
    generated: bool = Field(description="Always true: the text was written by a model (and reviewed).")
    provenance: ProvenanceOut


class CollectionsOut(BaseModel):
    collections: list[CollectionOut]
    assignments: dict[str, str] = Field(description="Experiments of the collections surface the unit is in.")


class EntryOut(BaseModel):
    item_id: str
    title: str
    note: str
    position: int
    category_path: str
    price: str | None
    currency: str


class CollectionDetailOut(CollectionOut):
    entries: list[EntryOut]
    request_id: str = Field(description="Send it back with click and purchase events: they count for this collection.")
    assignments: dict[str, str]


class CollectionsApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(operation_id="collections_list", parameters=[CollectionsParams], responses=CollectionsOut)
    def get(self, request: Request) -> Response:
        params = CollectionsParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        external_id = acting_user(request, params.validated_data.get("user_id"))
        chosen, assignments = collections_served(external_id=external_id,
                                                 session_id=params.validated_data.get("session_id"))  # fmt: skip
        return Response({"collections": [collection_summary(draft) for draft in chosen], "assignments": assignments})


class CollectionDetailApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(operation_id="collection_detail", parameters=[CollectionsParams], responses=CollectionDetailOut,
                   description="A collection's items; each is logged as an impression that records the draft and "
                   "prompt version behind it.")  # fmt: skip
    def get(self, request: Request, collection_id: int) -> Response:
        params = CollectionsParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        draft = collections_live().filter(pk=collection_id).first()
        if draft is None:
            raise ApiError(f"No published collection {collection_id}.", code="not_found", http_status=404)
        external_id = acting_user(request, params.validated_data.get("user_id"))
        return Response(collection_shown(draft=draft, external_id=external_id,
                                         session_id=params.validated_data.get("session_id")))  # fmt: skip


class EnrichmentJobIn(BaseModel):
    filter: EnrichmentFilter = Field(default_factory=EnrichmentFilter)
    budget: EnrichmentBudget = Field(default_factory=EnrichmentBudget)


class EnrichmentJobOut(BaseModel):
    id: int
    status: str
    status_reason: str
    origin: str
    filter: dict[str, Any]
    budget: dict[str, int]
    prompt_version: int | None
    selected: int
    drafted: int
    failed: int
    tokens_used: int
    created_at: datetime
    finished_at: datetime | None
    review: str = Field(description="Drafts wait for review in the console; nothing changes an item before.")


class EnrichmentJobsApi(APIView):
    permission_classes = [IngestScope]

    @extend_schema(
        operation_id="enrichment_jobs_create", request=EnrichmentJobIn, responses={202: EnrichmentJobOut},
        description="Draft tags and descriptions for the items a filter selects, within a budget of items and "
        "tokens, once per item and prompt version. Drafts are reviewed before they change an item.",
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else None
        if body is None or set(body) - {"filter", "budget"}:
            raise ApiError("The body is a JSON object with 'filter' and 'budget' (both optional).", code="invalid")
        try:
            job = enrichment_job_create(filter=body.get("filter") or {}, budget=body.get("budget") or {},
                                        origin=EnrichmentJob.Origin.API)  # fmt: skip
        except ValueError as exc:
            raise ApiError(str(exc), code="invalid", details={"field": str(exc).split(":")[0]}) from exc
        return Response(enrichment_job_summary(job), status=202)


class EnrichmentJobDetailApi(APIView):
    permission_classes = [IngestScope]

    @extend_schema(operation_id="enrichment_job_detail", responses=EnrichmentJobOut)
    def get(self, request: Request, job_id: int) -> Response:
        job = EnrichmentJob.objects.filter(pk=job_id).select_related("prompt_version").first()
        if job is None:
            raise ApiError(f"No enrichment job {job_id}.", code="not_found", http_status=404)
        return Response(enrichment_job_summary(job))
