from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from recsys_app.accounts.end_users import PREFIX, EndUserGrant, end_user_grant
from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.services import api_token_authenticate


class _Principal:
    """What Django and DRF ask of `request.user`: a caller that is authenticated but no person
    of the console (no staff or superuser rights)."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False


@dataclass(frozen=True)
class ApiClient(_Principal):
    """The principal behind a token: a client application, not an operator."""

    token: ApiToken

    @property
    def pk(self) -> int:
        return self.token.pk

    def __str__(self) -> str:
        return f"api-client:{self.token.name}"


@dataclass(frozen=True)
class EndUserClient(_Principal):
    """The principal behind an end-user token: one end user's browser or app."""

    grant: EndUserGrant

    @property
    def pk(self) -> int:
        return self.grant.end_user.pk

    def __str__(self) -> str:
        return f"end-user:{self.grant.end_user.external_id} via {self.grant.issuer.name}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`): a client application's key (`rk_…`) or
    an end-user token (`eu_…`) that its backend minted."""

    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[ApiClient | EndUserClient, ApiToken | EndUserGrant] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token contains invalid characters.") from exc
        if key.startswith(PREFIX):
            grant = end_user_grant(key)
            if grant is None:
                raise exceptions.AuthenticationFailed("Invalid or expired end-user token, or its issuer was revoked.")
            return EndUserClient(grant=grant), grant
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return ApiClient(token=token), token

    def authenticate_header(self, request: Request) -> str:
        return "Token"
