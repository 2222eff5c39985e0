"""Console login with lockout: after LOGIN_MAX_FAILURES failed attempts for one user name, or
from one address, within LOGIN_LOCKOUT_MINUTES, further attempts are refused (the password is
not even checked) until the window ends, with a message that says so."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from recsys_app.accounts.ratelimit import rate_count, rate_hit


def _keys(username: str, address: str) -> list[str]:
    return [f"login-user:{username.strip().lower()}", f"login-addr:{address}"]


def client_address(request: HttpRequest | None) -> str:
    """The caller's address: behind our proxy, the hop it appended to X-Forwarded-For (the
    last one; earlier ones are whatever the client sent), else the socket's peer. Without this,
    every login behind the proxy would share the proxy's address and one attacker's failures
    would lock everyone out."""
    if request is None:
        return ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "") if settings.BEHIND_PROXY else ""
    return forwarded.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")


class LockoutAuthenticationForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        window = settings.LOGIN_LOCKOUT_MINUTES * 60
        keys = _keys(self.data.get("username", ""), client_address(self.request))
        if any(rate_count(key, window) >= settings.LOGIN_MAX_FAILURES for key in keys):
            raise forms.ValidationError(
                f"Too many failed logins for this account or address; try again in up to "
                f"{settings.LOGIN_LOCKOUT_MINUTES} minutes.",
                code="locked_out",
            )
        try:
            return super().clean()
        except forms.ValidationError:
            for key in keys:
                rate_hit(key, window)
            raise
