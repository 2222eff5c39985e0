"""Serving endpoints (serve scope): recommendations, similar items, trending."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recsys_app.accounts.permissions import AdminScope, ServeScope, acting_user
from recsys_app.catalog.models import ItemKind
from recsys_app.ranking.experiments import experiment_results
from recsys_app.ranking.models import Experiment
from recsys_app.ranking.serving import (
    RecommendationRequest,
    RecommendationResponse,
    RecommendedItem,
    recommendations_serve,
    search_serve,
)
from recsys_app.retrieval.sources import Filters

MAX_K = 100


class _FilterParams(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=MAX_K, default=20)
    category = serializers.CharField(required=False, max_length=500, help_text="Category path prefix.")
    price_min = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    price_max = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    kind = serializers.ChoiceField(required=False, choices=ItemKind.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("price_min"), attrs.get("price_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"price_min": "must not exceed price_max"})
        return attrs

    def filters(self) -> Filters:
        data = self.validated_data
        return Filters(data.get("category"), data.get("price_min"), data.get("price_max"), data.get("kind"))


class RecommendationParams(_FilterParams):
    user_id = serializers.CharField(required=False, max_length=255, help_text="Unknown users get cold-start lists.")
    surface = serializers.SlugField(default="home", max_length=64)
    recommendation_id = serializers.UUIDField(required=False, help_text="Next page of an earlier list.")
    explain = serializers.ChoiceField(
        required=False,
        choices=["signals", "model"],
        help_text="Add 'why this item': 'signals' gives sentences made from the actual signals; 'model' has the "
        "language model phrase them (first 5 items; a phrasing that names anything not in the signals is dropped; "
        "only for a user who gave consent_generative, others get the signals' sentences).",
    )


class RecommendedItemOut(BaseModel):
    item_id: str
    title: str
    score: float
    sources: list[str] = Field(description="Candidate sources that proposed the item, strongest first.")
    reason: dict[str, Any] = Field(description="Machine-readable reason: code, source, and details.")
    explanation: dict[str, Any] | None = Field(
        None, description="With `explain`: text, signals, phrased_by (template|model), generated (bool)."
    )


class RecommendationsOut(BaseModel):
    request_id: str = Field(description="Send it back with click and purchase events to attribute them.")
    recommendation_id: str = Field(description="Pass it to get the next page without repeats.")
    surface: str
    page: int
    items: list[RecommendedItemOut]
    degraded: list[str] = Field(description="Sources that were skipped for this response, and why.")
    experiment: str = Field(description="Running experiment the user is in, or empty.")
    variant: str = Field(description="The user's variant in that experiment, or empty.")


def _body(response: RecommendationResponse) -> dict[str, Any]:
    return {
        "request_id": str(response.request_id),
        "recommendation_id": str(response.recommendation_id),
        "surface": response.surface,
        "page": response.page,
        "items": [_item_body(i) for i in response.items],
        "degraded": response.degraded,
        "experiment": response.experiment,
        "variant": response.variant,
    }


def _item_body(item: RecommendedItem) -> dict[str, Any]:
    body = {"item_id": item.external_id, "title": item.title, "score": item.score, "sources": item.sources,
            "reason": item.reason}  # fmt: skip
    if item.explanation is not None:
        body["explanation"] = item.explanation
    return body


def _params(serializer_class: type[serializers.Serializer], request: Request) -> Any:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params


class RecommendationsApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(parameters=[RecommendationParams], responses=RecommendationsOut)
    def get(self, request: Request) -> Response:
        params = _params(RecommendationParams, request)
        data = params.validated_data
        served = recommendations_serve(
            request=RecommendationRequest(
                surface=data["surface"],
                k=data["k"],
                user_external_id=acting_user(request, data.get("user_id")),
                filters=params.filters(),
                recommendation_id=data.get("recommendation_id"),
                explain=data.get("explain", ""),
            )
        )
        return Response(_body(served))


class SimilarItemsParams(_FilterParams):
    user_id = serializers.CharField(required=False, max_length=255)


class SimilarItemsApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(
        parameters=[SimilarItemsParams, OpenApiParameter("external_id", str, OpenApiParameter.PATH)],
        responses=RecommendationsOut,
    )
    def get(self, request: Request, external_id: str) -> Response:
        params = _params(SimilarItemsParams, request)
        data = params.validated_data
        served = recommendations_serve(
            request=RecommendationRequest(
                surface="item_page",
                k=data["k"],
                user_external_id=acting_user(request, data.get("user_id")),
                filters=params.filters(),
                seed_item_external_id=external_id,
            )
        )
        return Response(_body(served))


class TrendingApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(parameters=[_FilterParams], responses=RecommendationsOut)
    def get(self, request: Request) -> Response:
        params = _params(_FilterParams, request)
        served = recommendations_serve(
            request=RecommendationRequest(surface="trending", k=params.validated_data["k"], filters=params.filters())
        )
        return Response(_body(served))


class RateOut(BaseModel):
    rate: float
    low: float = Field(description="Wilson 95% interval, lower bound.")
    high: float


class VariantResultOut(BaseModel):
    variant: str
    users: int
    requests: int
    impressions: int
    clicks: int
    conversions: int
    ctr: RateOut
    conversion_rate: RateOut


class ExperimentResultsOut(BaseModel):
    experiment: str
    surface: str
    status: str
    variants: list[VariantResultOut]


def _rate(values: tuple[float, float, float]) -> dict[str, float]:
    return {"rate": round(values[0], 6), "low": round(values[1], 6), "high": round(values[2], 6)}


class ExperimentResultsApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(responses=ExperimentResultsOut)
    def get(self, request: Request, name: str) -> Response:
        experiment = Experiment.objects.filter(name=name).first()
        if experiment is None:
            raise Http404(f"No experiment named '{name}'.")
        variants = [
            {
                **{f: getattr(r, f) for f in ("variant", "users", "requests", "impressions", "clicks", "conversions")},
                "ctr": _rate(r.ctr),
                "conversion_rate": _rate(r.conversion_rate),
            }
            for r in experiment_results(experiment=experiment)
        ]
        return Response(
            {
                "experiment": experiment.name,
                "surface": experiment.surface,
                "status": experiment.status,
                "variants": variants,
            }
        )


class SearchParams(_FilterParams):
    q = serializers.CharField(max_length=200, help_text="Words or a description; websearch syntax for the words.")
    user_id = serializers.CharField(required=False, max_length=255)


class SearchApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(parameters=[SearchParams], responses=RecommendationsOut)
    def get(self, request: Request) -> Response:
        params = _params(SearchParams, request)
        data = params.validated_data
        served = search_serve(
            text=data["q"], k=data["k"], filters=params.filters(),
            user_external_id=acting_user(request, data.get("user_id")),
        )
        return Response(_body(served))
