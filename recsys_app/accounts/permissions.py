from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from recsys_app.accounts.end_users import EndUserGrant
from recsys_app.accounts.models import ApiToken, Scope
from recsys_app.lib.errors import ApiError


def request_has_scope(request: Request, scope: str) -> bool:
    """Tokens carry scopes; a logged-in operator may serve, a superuser may do anything."""
    if isinstance(request.auth, ApiToken | EndUserGrant):
        return request.auth.has_scope(scope)
    user = request.user
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user.is_staff) and scope == Scope.SERVE


class _ScopePermission(BasePermission):
    scope: str = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        self.message = f"This endpoint needs the '{self.scope}' scope."
        return request_has_scope(request, self.scope)


class IngestScope(_ScopePermission):
    scope = Scope.INGEST


class ServeScope(_ScopePermission):
    scope = Scope.SERVE


class AdminScope(_ScopePermission):
    scope = Scope.ADMIN


def acting_user(request: Request, user_id: str | None) -> str | None:
    """The end user a request may act for. An end-user token acts for its own user only (named
    or implied); another user's id is refused. Backend tokens and operators act for any user."""
    grant = request.auth
    if not isinstance(grant, EndUserGrant):
        return user_id
    own = grant.end_user.external_id
    if user_id not in (None, "", own):
        raise ApiError(f"user_id: this end-user token acts for its own user only, not '{user_id}'.",
                       code="forbidden_user", http_status=403)  # fmt: skip
    return own


def issuing_token(request: Request) -> ApiToken | None:
    """The client application behind a request: its token, or the token that minted its
    end-user token; None for a console session."""
    auth = request.auth
    return auth.issuer if isinstance(auth, EndUserGrant) else auth if isinstance(auth, ApiToken) else None


class BackendOnly(BasePermission):
    """Backend tokens only: an end-user token cannot mint tokens or reach backend endpoints."""

    message = "This endpoint needs a backend token, not an end-user token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return not isinstance(request.auth, EndUserGrant)
