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
from recsys_app.lib.traffic import POPULATIONS
from recsys_app.ranking.experiment_results import experiment_results, experiment_results_body
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


class _SessionParam(serializers.Serializer):
    session_id = serializers.CharField(
        required=False, max_length=128,
        help_text="The client's session id: experiments that split by session assign it (else by user).",
    )  # fmt: skip


class RecommendationParams(_FilterParams, _SessionParam):
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
    provenance: dict[str, Any] | None = Field(
        None, description="What generated content stands behind the item: 'collection' (draft, prompt, "
        "prompt_version, model) and/or 'explanation' (prompt, prompt_version, model). Logged on its impression.",
    )  # fmt: skip


class RecommendationsOut(BaseModel):
    request_id: str = Field(description="Send it back with click and purchase events to attribute them.")
    recommendation_id: str = Field(description="Pass it to get the next page without repeats.")
    surface: str
    page: int
    items: list[RecommendedItemOut]
    degraded: list[str] = Field(description="Sources that were skipped for this response, and why.")
    experiment: str = Field(description="Running experiment the user is in, or empty.")
    variant: str = Field(description="The user's variant in that experiment, or empty.")
    assignments: dict[str, str] = Field(description="Every running experiment the unit is in: {experiment: variant}.")


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
        "assignments": response.assignments,
    }


def _item_body(item: RecommendedItem) -> dict[str, Any]:
    body = {"item_id": item.external_id, "title": item.title, "score": item.score, "sources": item.sources,
            "reason": item.reason}  # fmt: skip
    if item.explanation is not None:
        body["explanation"] = item.explanation
    if item.provenance is not None:
        body["provenance"] = item.provenance
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
                session_id=data.get("session_id"),
            )
        )
        return Response(_body(served))


class SimilarItemsParams(_FilterParams, _SessionParam):
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
                session_id=data.get("session_id"),
            )
        )
        return Response(_body(served))


class TrendingParams(_FilterParams, _SessionParam):
    user_id = serializers.CharField(required=False, max_length=255, help_text="Assigns experiments on 'trending'.")


class TrendingApi(APIView):
    permission_classes = [ServeScope]

    @extend_schema(parameters=[TrendingParams], responses=RecommendationsOut)
    def get(self, request: Request) -> Response:
        params = _params(TrendingParams, request)
        data = params.validated_data
        asked = RecommendationRequest(surface="trending", k=data["k"], filters=params.filters(),
                                      user_external_id=acting_user(request, data.get("user_id")),
                                      session_id=data.get("session_id"))  # fmt: skip
        return Response(_body(recommendations_serve(request=asked)))


class RateOut(BaseModel):
    rate: float
    low: float = Field(description="95% interval, lower bound.")
    high: float


class LlmSideOut(BaseModel):
    calls: int
    errors: int
    tokens: int
    cost: float
    cost_per_1000_requests: float
    latency_p95_ms: float | None
    error_rate: float
    block_rate: float = Field(description="Share of calls a guardrail blocked.")
    flag_rate: float = Field(description="Share of calls a guardrail flagged.")
    grounding_rate: float | None = Field(description="Share of grounding checks passed; null: none ran.")
    judge: float | None = Field(description="Mean online judge score of the sampled calls (0-1); null: none yet.")


class VariantResultOut(BaseModel):
    variant: str
    weight: float
    stopped: str = Field(description="Why the guard stopped it; empty while it runs.")
    units: int = Field(description="End users or sessions, as the experiment splits.")
    users: int = Field(description="Same as units (kept for older clients).")
    requests: int
    impressions: int
    clicks: int
    conversions: int
    ctr: RateOut
    conversion_rate: RateOut
    revenue_per_unit: RateOut | None = Field(description="Bootstrap 95%; null when no purchase had a price.")
    llm: LlmSideOut


class ExperimentResultsOut(BaseModel):
    experiment: str
    surface: str
    status: str
    unit: str
    layer: str
    traffic: int
    population: dict[str, Any] = Field(
        description="Whose traffic is counted (counted: all|real|simulated, the `population` parameter) and how the "
        "results are labelled: label 'simulated' (all of it came from a user simulator), 'mixed' or 'real'."
    )
    attribution_window_minutes: int
    enough_data: bool
    not_enough: list[str] = Field(description="Why the results are not to be read yet ('not enough data yet').")
    srm: dict[str, Any] = Field(description="Sample-ratio mismatch: p_value (chi-square), detected, threshold.")
    guard: list[str] = Field(description="Variants the guard stopped, and why.")
    variants: list[VariantResultOut]
    by_provenance: list[dict[str, Any]] = Field(
        description="Per variant and per generated content shown with the items (shown: collection, explanation "
        "or reply; prompt, prompt_version, draft, model): impressions, clicks, conversions, CTR."
    )
    replay: dict[str, Any] | None = Field(description="The latest offline replay of the variants, if any.")


class ExperimentResultsParams(serializers.Serializer):
    population = serializers.ChoiceField(
        choices=list(POPULATIONS), default="all",
        help_text="Count all traffic, only people's (real) or only the simulator's (simulated).",
    )  # fmt: skip


class ExperimentResultsApi(APIView):
    permission_classes = [AdminScope]

    @extend_schema(
        parameters=[ExperimentResultsParams],
        responses=ExperimentResultsOut,
        description="Per variant: units, impressions, CTR and conversion (Wilson 95%), revenue per unit "
        "(bootstrap 95%, where purchases have prices), the model side (calls, tokens, cost per 1,000 requests, "
        "latency p95, guardrail block/flag rates, grounding rate, online judge score), the sample-ratio-mismatch "
        "test, the minimum-sample verdict, guard stops, and the latest offline replay.",
    )  # fmt: skip
    def get(self, request: Request, name: str) -> Response:
        experiment = Experiment.objects.filter(name=name).first()
        if experiment is None:
            raise Http404(f"No experiment named '{name}'.")
        population = _params(ExperimentResultsParams, request).validated_data["population"]
        return Response(experiment_results_body(experiment_results(experiment=experiment, population=population)))


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
