"""A real browser (Debian's Chromium, driven by Playwright) against Django's live server.

Screenshots of every flow go to `test-artifacts/screenshots/` (or `SCREENSHOT_DIR`), which CI
keeps. The live server runs in a thread of this process on the test database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.curation.conftest import films, make_draft  # noqa: F401  (fixtures for the flows)

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are ordinary blocking calls, which Django refuses inside a loop unless told.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium package")
    saved = {alias: getattr(connections[alias], "_test_serialized_contents", None) for alias in connections}
    with sync_playwright() as playwright:
        # Playwright's sync API moves this thread into a greenlet with its own context, where
        # Django's connection handler (context-local) builds new connection objects that lack
        # the copy of the migrated data that serialized-rollback tests restore; hand it over.
        for alias, contents in saved.items():
            if contents is not None:
                connections[alias]._test_serialized_contents = contents  # type: ignore[attr-defined]
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Console:
    """One logged-in browser page, with helpers that read like what an operator does."""

    def __init__(self, page: Any, base_url: str, role: str) -> None:
        self.page, self.base_url, self.role = page, base_url, role
        # What the Content-Security-Policy blocked (Chromium reports each on the console).
        self.blocked: list[str] = []
        page.on("console", lambda message: self._note_blocked(message.text))

    def _note_blocked(self, text: str) -> None:
        elsewhere = re.search(r"Loading the \w+ '(https?://[^']+)'", text)
        if elsewhere and not elsewhere.group(1).startswith(self.base_url):
            return  # a third-party load (Redoc's fonts and logo): the console makes none, on purpose
        if "Content Security Policy" in text:
            self.blocked.append(text)

    def open(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.role}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def messages(self) -> str:
        found = self.page.locator("ul.messagelist")
        return found.inner_text() if found.count() else ""


@pytest.fixture
def console_as(browser: Any, live_server: Any, cast: dict[str, Any]) -> Iterator[Any]:
    """Log in through the real login form as one of the cast's roles."""
    contexts, consoles = [], []

    def login(role: str) -> Console:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        console = Console(page, live_server.url, role)
        page.goto(live_server.url + "/login/")
        page.fill("#id_username", cast[role].username)
        page.fill("#id_password", f"{role}-password-1")
        page.click("input[type=submit]")
        page.wait_for_selector("#console-nav")
        consoles.append(console)
        return console

    yield login
    for context in contexts:
        context.close()
    blocked = [text for console in consoles for text in console.blocked]
    assert not blocked, f"the Content-Security-Policy blocked something the console needs: {blocked}"
