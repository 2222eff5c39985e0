"""The console's chat page: an operator chats as an end user and the reply streams."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from django.urls import reverse

from agents.models import ChatSession
from tests.world import World


def test_an_operator_chats_as_an_end_user_in_the_console(world: World, llm: None, operator: Any) -> None:
    client = Client()
    client.force_login(operator)
    page = client.get(reverse("admin:agents_chatsession_try"), {"user_id": "shopper-4"})
    assert page.status_code == 200 and "Chat with the agent" in page.content.decode()
    session = ChatSession.objects.get(operator=operator)
    assert session.end_user.external_id == "shopper-4"  # type: ignore[union-attr]
    url = reverse("admin:agents_chatsession_message", args=[session.pk])
    response = client.post(url, json.dumps({"message": "outdoor gear under 35"}), content_type="application/json")
    events = [chunk.decode() for chunk in response.streaming_content]  # type: ignore[attr-defined]
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert (
        done["intent"] == "search" and done["cards"] and all(c["category"].startswith("Outdoor") for c in done["cards"])
    )
    history = client.get(reverse("admin:agents_chatsession_change", args=[session.pk])).content.decode()
    assert "outdoor gear under 35" in history
    too_long = client.post(url, json.dumps({"message": "x" * 5000}), content_type="application/json")
    assert too_long.status_code == 400 and b"at most 2000" in too_long.content


def test_the_chat_page_is_for_staff_only(world: World, outsider: Any) -> None:
    client = Client()
    client.force_login(outsider)
    assert client.get(reverse("admin:agents_chatsession_try")).status_code == 302  # to the login page
