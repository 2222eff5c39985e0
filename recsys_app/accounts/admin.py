from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from recsys_app.accounts.models import ApiToken, Scope
from recsys_app.accounts.services import api_token_create, api_token_revoke, api_token_rotate


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "expires_at", "rate_per_minute"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "prefix", "scopes", "rate_per_minute", "created_at", "last_used_at", "expires_at",
                    "revoked_at"]  # fmt: skip
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    actions = ["revoke", "rotate"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return []
        return ["name", "prefix", "scopes", "created_by", "created_at", "last_used_at", "expires_at", "revoked_at",
                "rate_per_minute", "rotated_from"]  # fmt: skip

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            return
        token, key = api_token_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,  # type: ignore[arg-type]
            expires_at=form.cleaned_data.get("expires_at"),
            rate_per_minute=form.cleaned_data.get("rate_per_minute"),
        )
        obj.pk = token.pk
        request._new_keys = [{"token": token, "key": key, "note": "new token"}]  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        return _keys_page(self, request, getattr(request, "_new_keys", []))

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")

    @admin.action(description="Rotate: new key now, old key valid 24 h more", permissions=["change"])
    def rotate(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        keys = []
        for token in queryset:
            try:
                new, key = api_token_rotate(token=token, by=request.user)  # type: ignore[arg-type]
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                continue
            keys.append({"token": new, "key": key, "note": f"replaces {token.prefix}…, which stops at "
                                                            f"{token_expiry(token)}"})  # fmt: skip
        return _keys_page(self, request, keys) if keys else None


def _keys_page(model_admin: admin.ModelAdmin, request: HttpRequest, keys: list[dict[str, Any]]) -> HttpResponse:
    """New keys are shown once, on this page: never through the messages framework, whose
    storage is a cookie (or the session), and never cached."""
    context = {**model_admin.admin_site.each_context(request), "title": "New API key", "keys": keys,
               "opts": model_admin.model._meta}  # fmt: skip
    response = TemplateResponse(request, "admin/accounts/apitoken/new_keys.html", context)
    add_never_cache_headers(response)
    return response


def token_expiry(token: ApiToken) -> str:
    token.refresh_from_db(fields=["expires_at"])
    return f"{token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never"
