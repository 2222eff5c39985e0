from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.services import api_token_authenticate


@dataclass(frozen=True)
class ApiClient:
    """The principal behind a token: a client application, not an operator."""

    token: ApiToken
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> int:
        return self.token.pk

    def __str__(self) -> str:
        return f"api-client:{self.token.name}"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`)."""

    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token contains invalid characters.") from exc
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return ApiClient(token=token), token

    def authenticate_header(self, request: Request) -> str:
        return "Token"
