from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from recsys_app.accounts.models import ApiToken, Scope


def request_has_scope(request: Request, scope: str) -> bool:
    """Tokens carry scopes; a logged-in operator may serve, a superuser may do anything."""
    if isinstance(request.auth, ApiToken):
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
