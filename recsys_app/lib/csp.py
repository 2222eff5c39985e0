"""Content-Security-Policy for every response (Django 5.2 has none built in).

The console's policy allows scripts from our own origin only, plus inline scripts that carry
this request's nonce (`request.csp_nonce`, `nonce="{{ request.csp_nonce }}"` in a template);
the console's own pages keep their scripts in static files and need none. Inline event
handlers (`onclick=`) never run. Styles may be inline: the admin's change list writes a
`<style>` block, and the console's charts size their bars with `style` attributes, which no
nonce can cover. A view that needs another policy (the API docs) is wrapped in `csp_policy`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
NONCE = "'nonce-{nonce}'"
CONSOLE = {
    "default-src": "'self'",
    "script-src": f"'self' {NONCE}",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# Swagger UI and Redoc (drf-spectacular's sidecar files, served from our origin): their
# scripts are files (the Swagger view is the split one, whose start-up script is a second
# request), their own styles are injected inline, and Redoc runs its search in a blob: worker.
# Redoc's Google fonts and logo stay blocked: the console makes no third-party requests.
API_DOCS = {**CONSOLE, "script-src": "'self'", "worker-src": "'self' blob:"}


def policy_header(policy: dict[str, str], *, nonce: str) -> str:
    return "; ".join(f"{name} {value.format(nonce=nonce)}" for name, value in policy.items())


class ContentSecurityPolicyMiddleware:
    """Gives each request a fresh nonce and each response the console's policy, unless the
    view set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(18)  # type: ignore[attr-defined]
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_header(CONSOLE, nonce=request.csp_nonce)  # type: ignore[attr-defined]
        return response


def csp_policy(policy: dict[str, str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator: this view's responses carry `policy` instead of the console's."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def with_policy(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            response = view(request, *args, **kwargs)
            response[HEADER] = policy_header(policy, nonce=getattr(request, "csp_nonce", ""))
            return response

        return with_policy

    return decorate
