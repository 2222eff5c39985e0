"""Finding 6, the console half, replayed through the live server: a template that would
allocate gigabytes, a lockout that anyone could hold on 'admin', edits that left no audit row,
pages without a Content-Security-Policy, red-team cases an operator could rewrite."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from recsys_app.llmops.models import EvalCase, PromptVersion
from recsys_app.safety.models import AuditEntry
from tests.security.conftest import console_login, form_post

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_template_bomb_is_refused_with_a_clear_error(web: str, cast: dict[str, Any], llm: None) -> None:
    admin = console_login(web, "admin-1", "admin-password-1")
    bomb = {"prompt": "explanation", "system": "", "template": '{{ "x" * 10**10 }}', "variables_schema": "{}",
            "output_schema": "null", "provider": "", "params": "{}", "examples": "[]", "note": "bomb"}  # fmt: skip
    created = form_post(admin, web, "/llmops/promptversion/add/", bomb)
    version = PromptVersion.objects.filter(note="bomb").first()
    if version is None:  # refused on the form, naming what is wrong
        assert created.status_code == 200 and "LLM_TEMPLATE_MAX_OUTPUT" in created.text
        return
    played = form_post(admin, web, f"/llmops/promptversion/{version.pk}/playground/", {"variables": "{}"})
    assert played.status_code == 200 and "LLM_TEMPLATE_MAX_OUTPUT" in played.text


def test_failed_logins_from_one_address_do_not_lock_the_name_elsewhere(web: str, cast: dict[str, Any],
                                                                     settings: Any) -> None:  # fmt: skip
    settings.BEHIND_PROXY = True  # the live server stands behind a proxy that appends the client

    def attempt(address: str, password: str) -> int:
        session = requests.Session()
        session.headers["X-Forwarded-For"] = address
        page = session.get(f"{web}/login/")
        token = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        return session.post(f"{web}/login/", allow_redirects=False, headers={"Referer": web},
                            data={"username": "admin-1", "password": password, "csrfmiddlewaretoken": token,
                                  "next": "/"}).status_code  # fmt: skip

    for _ in range(settings.LOGIN_MAX_FAILURES):
        assert attempt("203.0.113.9", "wrong") == 200
    assert attempt("203.0.113.9", "admin-password-1") == 200, "locked from the attacker's address"
    assert attempt("198.51.100.7", "admin-password-1") == 302, "the owner logs in from elsewhere"


def test_route_edits_are_audited_and_console_pages_carry_a_policy(web: str, cast: dict[str, Any], llm: None) -> None:
    admin = console_login(web, "admin-1", "admin-password-1")
    page = admin.get(f"{web}/llmops/route/agent/change/")
    policy = page.headers.get("Content-Security-Policy", "")
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy
    saved = form_post(admin, web, "/llmops/route/agent/change/", {
        "use_case": "agent", "provider": "local", "fallback": "", "daily_token_budget": "1000", "daily_cost_budget": "",
        "requests_per_minute": "5", "semantic_cache_threshold": ""})  # fmt: skip
    assert saved.status_code == 302, saved.text[:1000]
    entry = AuditEntry.objects.filter(target_id="agent").latest("pk")
    assert entry.actor_name == "admin-1" and entry.after["requests_per_minute"] == 5


def test_red_team_cases_cannot_be_rewritten_from_the_console(web: str, cast: dict[str, Any], llm: None) -> None:
    case = EvalCase.objects.filter(dataset__name="red-team", dataset__prompt="explanation").first()
    assert case is not None
    admin = console_login(web, "admin-1", "admin-password-1")
    page = admin.get(f"{web}/llmops/evaldataset/{case.dataset_id}/change/")
    assert page.status_code == 200 and 'name="cases-0-variables"' not in page.text, "shown read-only"
    admin.post(f"{web}/llmops/evaldataset/{case.dataset_id}/delete/", headers={"Referer": web},
               data={"post": "yes", "csrfmiddlewaretoken": admin.cookies.get("csrftoken", "")})  # fmt: skip
    assert EvalCase.objects.filter(pk=case.pk, variables=case.variables).exists()
