"""Finding 2 (any serve token drove any end user's chat and read their memory), finding 3
(chat limits per session only; routes without budgets), and end-user tokens: each replayed
through the live server on the shop of tests/world.py with the real model."""

from __future__ import annotations

import time
from typing import Any

import requests
from django.utils import timezone

from recsys_app.accounts.models import ApiToken
from recsys_app.accounts.services import api_token_revoke
from recsys_app.catalog.models import EndUser
from recsys_app.llmops.models import Route, Trace
from recsys_app.llmops.seed import ROUTE_LIMITS
from tests.security.conftest import api_key, auth
from tests.world import World


def _post(base: str, path: str, key: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(base + path, json=body, headers=auth(key), timeout=120)


def _get(base: str, path: str, key: str) -> requests.Response:
    return requests.get(base + path, headers=auth(key), timeout=120)


def _session(base: str, key: str, user: str | None) -> requests.Response:
    return _post(base, "/api/v1/chat/sessions", key, {"user_id": user} if user else {})


def _say(base: str, key: str, session: str, message: str) -> requests.Response:
    return _post(base, f"/api/v1/chat/sessions/{session}/messages", key, {"message": message})


def _mint(base: str, key: str, user: str, **extra: Any) -> requests.Response:
    return _post(base, "/api/v1/end-user-tokens", key, {"user_id": user, **extra})


def test_a_chat_session_belongs_to_the_token_that_opened_it(world: World, llm: None, web: str) -> None:
    app_a, app_b = api_key("serve", name="app-a"), api_key("serve", name="app-b")
    session = _session(web, app_a, "shopper-0").json()["session_id"]
    first = _say(web, app_a, session, "outdoor things under 20 euros please")
    assert first.status_code == 200 and first.json()["constraints"]

    # The attack: another client's token replays the session id and asks for the user's history.
    stolen = _say(web, app_b, session, "what did I like recently?")
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "not_found"
    assert "Kitchen" not in stolen.text and "coffee" not in stolen.text.lower()
    # It may open its own session for the user, but the other client's remembered constraints stay behind.
    own = _session(web, app_b, "shopper-0")
    assert own.status_code == 201 and own.json()["memory"] == {}
    again = _session(web, app_a, "shopper-0")
    assert again.json()["memory"].get("carried"), "the same client keeps the user's soft preferences"
    assert "constraints" not in again.json()["memory"], "hard constraints never leave their session"


def test_an_end_user_token_acts_for_its_own_user_only(world: World, llm: None, web: str) -> None:
    backend = api_key("serve", name="backend")
    minted = _mint(web, backend, "shopper-1", ttl_seconds=300)
    assert minted.status_code == 201, minted.text
    browser = minted.json()["token"]
    assert browser.startswith("eu_") and minted.json()["user_id"] == "shopper-1"

    mine = _get(web, "/api/v1/recommendations?surface=home&k=5&explain=signals", browser)
    assert mine.status_code == 200 and mine.json()["items"]
    for path in ("/api/v1/recommendations?user_id=shopper-2&explain=signals", "/api/v1/search?q=tent&user_id=shopper-2",
                 "/api/v1/items/coffee-0/similar?user_id=shopper-2"):  # fmt: skip
        other = _get(web, path, browser)
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden_user", path
    assert _session(web, browser, "shopper-2").status_code == 403
    assert _get(web, "/api/v1/collections?user_id=shopper-2", browser).status_code == 403
    assert _mint(web, browser, "shopper-1").status_code == 403, "an end-user token mints nothing"
    assert _post(web, "/api/v1/events", browser, {"events": []}).status_code == 403, "nor ingests"
    assert _get(web, "/api/v1/users/shopper-1", browser).status_code == 403

    # The backend's session for this user is open to the user's token; another user's token gets 404.
    backend_session = _session(web, backend, "shopper-1").json()["session_id"]
    assert _say(web, browser, backend_session, "").status_code == 200
    other_user = _mint(web, backend, "shopper-2").json()["token"]
    assert _say(web, other_user, backend_session, "").status_code == 404
    own = _session(web, browser, None)
    assert own.status_code == 201 and _say(web, backend, own.json()["session_id"], "").status_code == 200

    forged = browser[:-4] + ("AAAA" if not browser.endswith("AAAA") else "BBBB")
    assert _get(web, "/api/v1/trending", forged).status_code == 401
    api_token_revoke(token=ApiToken.objects.get(name="backend"))
    assert _get(web, "/api/v1/trending", browser).status_code == 401, "revoking the backend ends its users' tokens"


def test_a_rotated_token_keeps_its_sessions(world: World, llm: None, web: str) -> None:
    from recsys_app.accounts.services import api_token_rotate

    old_key = api_key("serve", name="backend")
    session = _session(web, old_key, "shopper-5").json()["session_id"]
    _, new_key = api_token_rotate(token=ApiToken.objects.get(name="backend"))
    assert _say(web, new_key, session, "").status_code == 200, "the same client, under its new key"


def test_end_user_tokens_expire(world: World, web: str, settings: Any) -> None:
    backend = api_key("serve", name="backend")
    assert _mint(web, backend, "shopper-1", ttl_seconds=59).status_code == 400
    assert _mint(web, backend, "nobody").status_code == 404
    from recsys_app.accounts.end_users import end_user_token_mint

    issuer = ApiToken.objects.get(name="backend")
    token, expires = end_user_token_mint(issuer=issuer, end_user=EndUser.objects.get(external_id="shopper-1"))
    assert expires <= timezone.now() + timezone.timedelta(seconds=settings.END_USER_TOKEN_TTL)
    ApiToken.objects.filter(pk=issuer.pk).update(expires_at=timezone.now())
    assert _get(web, "/api/v1/trending", token).status_code == 401


def _fresh_window() -> None:
    """Counters use one-minute windows; start a burst early in one so it does not straddle two."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.5)


def test_chat_limits_hold_across_sessions_and_tokens(world: World, llm: None, web: str, settings: Any) -> None:
    settings.CHAT_SESSIONS_PER_MINUTE_PER_TOKEN = 8
    settings.CHAT_MESSAGES_PER_MINUTE_PER_TOKEN = 12
    settings.CHAT_MESSAGES_PER_MINUTE = 5
    attacker = api_key("serve", name="attacker")
    _fresh_window()
    # The attack: many new anonymous sessions, one message each.
    created = [_session(web, attacker, None) for _ in range(10)]
    assert [r.status_code for r in created].count(201) == 8
    refused = created[-1]
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    sessions = [r.json()["session_id"] for r in created if r.status_code == 201]
    answers = [_say(web, attacker, s, "").status_code for s in sessions + sessions]
    assert answers.count(200) == 12 and answers[-1] == 429, answers

    # One end user across several sessions of another client.
    shop = api_key("serve", name="shop")
    own = [_session(web, shop, "shopper-3").json()["session_id"] for _ in range(3)]
    codes = [_say(web, shop, own[n % 3], "").status_code for n in range(6)]
    assert codes == [200] * 5 + [429]
    assert _session(web, shop, "shopper-3").status_code == 201  # 4th session of the user this minute
    assert _session(web, shop, "shopper-3").status_code == 201
    assert _session(web, shop, "shopper-3").status_code == 429, "at most 5 new sessions a minute per user"


def test_every_route_of_a_fresh_install_has_limits(llm: None) -> None:
    for route in Route.objects.all():
        assert route.requests_per_minute and route.daily_token_budget, route
    assert set(ROUTE_LIMITS) == set(Route.objects.values_list("use_case", flat=True))


def test_explain_model_needs_consent_to_generative_features(world: World, llm: None, web: str) -> None:
    backend = api_key("serve", name="backend")
    EndUser.objects.filter(external_id="shopper-4").update(consent_generative=False)
    served = _get(web, "/api/v1/recommendations?user_id=shopper-4&k=5&explain=model", backend)
    assert served.status_code == 200 and served.json()["items"]
    assert all(item["explanation"]["phrased_by"] == "template" for item in served.json()["items"])
    assert not Trace.objects.filter(use_case="explanations", kind="llm").exists(), "no model saw the user's signals"
