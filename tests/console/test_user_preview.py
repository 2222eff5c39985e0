from __future__ import annotations

from django.test import Client
from django.urls import reverse

from recsys_app.ranking.serving import REASONS
from tests.world import World


def test_operator_sees_what_a_user_would_see(world: World, operator) -> None:  # type: ignore[no-untyped-def]
    from recsys_app.catalog.models import EndUser, Impression

    client = Client()
    client.force_login(operator)
    user = EndUser.objects.get(external_id="shopper-0")
    page = client.get(reverse("admin:catalog_enduser_change", args=[user.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "What this user sees" in html
    assert html.count("<tr><td>") >= 10, "ten recommended items, then the history"
    assert any(code in html for code in REASONS.values())
    assert "Recent interactions" in html and "like" in html
    assert Impression.objects.count() == 0, "a preview logs no impressions"
