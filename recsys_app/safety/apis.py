"""Privacy, fairness and audit for the platform's back office (admin scope): an end user's
export and erasure, exposure figures, the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recsys_app.accounts.permissions import AdminScope
from recsys_app.catalog.models import EndUser
from recsys_app.lib.errors import ApiError
from recsys_app.safety.models import AuditEntry, DeletionRequest, ExposureDaily
from recsys_app.safety.privacy import PrivacyError, deletion_request, user_export


class DeletionOut(BaseModel):
    id: int
    status: str = Field(description="pending, running, done or failed.")
    requested_at: str
    finished_at: str | None
    counts: dict[str, int] = Field(description="Rows removed or redacted, per kind (when done).")
    seconds: float | None
    error: str


def _deletion(request: DeletionRequest) -> dict[str, Any]:
    return {"id": request.pk, "status": request.status, "requested_at": request.requested_at.isoformat(),
            "finished_at": request.finished_at.isoformat() if request.finished_at else None,
            "counts": request.counts, "seconds": request.seconds, "error": request.error}  # fmt: skip


def _end_user(external_id: str) -> EndUser:
    user = EndUser.objects.filter(external_id=external_id).first()
    if user is None:
        raise ApiError(f"No end user '{external_id}'.", code="not_found", http_status=404)
    return user


class EndUserExportApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(operation_id="end_user_export", responses={200: OpenApiResponse(description="Everything stored "
                   "about the end user: their row, every row pointing to it, and the traces about them.")})  # fmt: skip
    def get(self, request: Request, user_id: str) -> Response:
        return Response(user_export(user=_end_user(user_id)))


class EndUserDeletionApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(operation_id="end_user_delete", request=None, responses={202: DeletionOut})
    def post(self, request: Request, user_id: str) -> Response:
        try:
            queued = deletion_request(external_id=user_id, via="api")
        except PrivacyError as exc:
            raise ApiError(str(exc), code="not_found", http_status=404) from exc
        return Response(_deletion(queued), status=202)


class DeletionDetailApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(operation_id="deletion_detail", responses=DeletionOut)
    def get(self, request: Request, deletion_id: int) -> Response:
        found = DeletionRequest.objects.filter(pk=deletion_id).first()
        if found is None:
            raise ApiError(f"No deletion request {deletion_id}.", code="not_found", http_status=404)
        return Response(_deletion(found))


class ExposureParams(serializers.Serializer):
    surface = serializers.CharField(required=False, max_length=64)
    days = serializers.IntegerField(required=False, min_value=1, max_value=365, default=30)


class ExposureOut(BaseModel):
    day: str
    surface: str
    experiment: str
    variant: str
    impressions: int
    items_shown: int
    catalog_items: int
    gini: float
    coverage: float
    groups: dict[str, dict[str, dict[str, float]]]


class ExposureListOut(BaseModel):
    exposure: list[ExposureOut]


class ExposureApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(operation_id="exposure_daily", parameters=[ExposureParams], responses=ExposureListOut)
    def get(self, request: Request) -> Response:
        params = ExposureParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        latest = ExposureDaily.objects.order_by("-day").values_list("day", flat=True).first()
        rows = ExposureDaily.objects.none()
        if latest is not None:
            rows = ExposureDaily.objects.filter(day__gt=latest - timedelta(days=params.validated_data["days"]))
        if params.validated_data.get("surface"):
            rows = rows.filter(surface=params.validated_data["surface"])
        fields = list(ExposureOut.model_fields)
        return Response({"exposure": [{**row, "day": row["day"].isoformat()} for row in rows.values(*fields)]})


class AuditParams(serializers.Serializer):
    action = serializers.CharField(required=False, max_length=64)
    target_type = serializers.CharField(required=False, max_length=64)
    target_id = serializers.CharField(required=False, max_length=255)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str = Field(description="Username; empty for the system.")
    action: str
    target_type: str
    target_id: str
    summary: str
    before: Any
    after: Any


class AuditListOut(BaseModel):
    entries: list[AuditOut]


class AuditApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(operation_id="audit_list", parameters=[AuditParams], responses=AuditListOut)
    def get(self, request: Request) -> Response:
        params = AuditParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = {k: v for k, v in params.validated_data.items() if k != "limit"}
        entries = AuditEntry.objects.filter(**filters)[: params.validated_data["limit"]]
        return Response({"entries": [
            {"id": e.pk, "at": e.at.isoformat(), "actor": e.actor_name, "action": e.action,
             "target_type": e.target_type, "target_id": e.target_id, "summary": e.summary,
             "before": e.before, "after": e.after}
            for e in entries
        ]})  # fmt: skip
