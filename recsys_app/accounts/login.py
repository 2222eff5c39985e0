"""Console login with lockout, counted over LOGIN_LOCKOUT_MINUTES windows: LOGIN_MAX_FAILURES
failed attempts for one user name from one address lock that pair; LOGIN_MAX_FAILURES_PER_NAME
failures for a name from any addresses lock the name (distributed guessing);
LOGIN_MAX_FAILURES_PER_ADDRESS failures from one address lock the address (one caller trying many
names). A locked attempt is refused without checking the password, with a message that says
which lock holds. Counters are kept per name typed, whether or not such an account exists, so
the message reveals nothing about accounts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from recsys_app.accounts.ratelimit import rate_count, rate_hit


def _locks(username: str, address: str) -> list[tuple[str, int, str]]:
    """(counter key, failures that lock it, what the message says is locked), most specific first."""
    name = username.strip().lower()
    return [
        (f"login-pair:{address}|{name}", settings.LOGIN_MAX_FAILURES, "this user name from your address"),
        (f"login-user:{name}", settings.LOGIN_MAX_FAILURES_PER_NAME, "this user name from any address"),
        (f"login-addr:{address}", settings.LOGIN_MAX_FAILURES_PER_ADDRESS, "your address"),
    ]


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
        locks = _locks(self.data.get("username", ""), client_address(self.request))
        for key, limit, what in locks:
            if rate_count(key, window) >= limit:
                raise forms.ValidationError(
                    f"Too many failed logins for {what}; logins for it are paused for up to "
                    f"{settings.LOGIN_LOCKOUT_MINUTES} minutes.",
                    code="locked_out",
                )
        try:
            return super().clean()
        except forms.ValidationError:
            for key, _, _ in locks:
                rate_hit(key, window)
            raise
