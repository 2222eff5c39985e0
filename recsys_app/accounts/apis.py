"""Minting end-user tokens (serve scope, backend tokens only)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, Field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recsys_app.accounts.end_users import EndUserTokenError, end_user_token_mint
from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.permissions import BackendOnly, ServeScope
from recsys_app.catalog.models import EndUser
from recsys_app.lib.errors import ApiError


class EndUserTokenIn(serializers.Serializer):
    user_id = serializers.CharField(max_length=255, help_text="The end user the token acts for.")
    ttl_seconds = serializers.IntegerField(
        required=False, min_value=60, max_value=settings.END_USER_TOKEN_MAX_TTL,
        help_text=f"Lifetime; default {settings.END_USER_TOKEN_TTL} s.",
    )  # fmt: skip


class EndUserTokenOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>` from the end user's browser or app.")
    user_id: str
    expires_at: str


class EndUserTokenApi(APIView):
    """A backend mints a short-lived token for one of its end users; the browser or app then
    calls recommendations, search and chat with it, as that user only."""

    permission_classes = [ServeScope, BackendOnly]

    @extend_schema(request=EndUserTokenIn, responses={201: EndUserTokenOut})
    def post(self, request: Request) -> Response:
        data = EndUserTokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        if not isinstance(request.auth, ApiToken):
            raise ApiError("Only an API token (not a console session) mints end-user tokens.", code="forbidden",
                           http_status=403)  # fmt: skip
        external_id = data.validated_data["user_id"]
        end_user = EndUser.objects.filter(external_id=external_id).first()
        if end_user is None:
            raise ApiError(f"No end user with external_id '{external_id}'.", code="not_found", http_status=404)
        try:
            token, expires = end_user_token_mint(issuer=request.auth, end_user=end_user,
                                                 ttl_seconds=data.validated_data.get("ttl_seconds"))  # fmt: skip
        except EndUserTokenError as exc:
            raise ApiError(str(exc), code="invalid") from exc
        return Response({"token": token, "user_id": external_id, "expires_at": expires.isoformat()}, status=201)
