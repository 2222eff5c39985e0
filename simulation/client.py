"""The product as a client app sees it: its public REST API, nothing else.

Every call says `simulated=true` (a query parameter the API accepts on every endpoint), so the
product marks what the simulator causes: its impressions, exposures, events, chats and the users
it creates. Those rows can be left out of training and reports, or purged in one action."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class ApiError(RuntimeError):
    pass


class ApiClient:
    """Serve-scope calls (lists, chat) and ingest-scope calls (events, users), each with its own token."""

    def __init__(self, base_url: str, *, serve_token: str, ingest_token: str, timeout: float = 60.0,
                 simulated: bool = True) -> None:  # fmt: skip
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._serve = {"Authorization": f"Token {serve_token}"}
        self._ingest = {"Authorization": f"Token {ingest_token}"}
        self._mark = {"simulated": "true"} if simulated else {}

    def recommendations(self, *, user_id: str, surface: str = "home", k: int = 10,
                        session_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        params = {"user_id": user_id, "surface": surface, "k": k, **({"session_id": session_id} if session_id else {})}
        return self.get("/api/v1/recommendations", params)

    def similar(self, *, item_id: str, user_id: str, k: int = 10, session_id: str | None = None) -> dict[str, Any]:
        params = {"user_id": user_id, "k": k, **({"session_id": session_id} if session_id else {})}
        return self.get(f"/api/v1/items/{item_id}/similar", params)

    def search(self, *, text: str, user_id: str, k: int = 10) -> dict[str, Any]:
        return self.get("/api/v1/search", {"q": text, "user_id": user_id, "k": k})

    def chat_session_create(self, *, user_id: str | None = None) -> dict[str, Any]:
        return self.post("/api/v1/chat/sessions", {"user_id": user_id} if user_id else {})

    def chat_message(self, *, session_id: str, message: str) -> dict[str, Any]:
        return self.post(f"/api/v1/chat/sessions/{session_id}/messages", {"message": message})

    def item(self, item_id: str) -> dict[str, Any]:
        return self.get(f"/api/v1/items/{quote(item_id, safe='')}")

    def items(self, *, page_size: int = 200, cursor: str | None = None) -> dict[str, Any]:
        """One page of the catalog (newest first); the page's `next` link carries the next cursor."""
        return self.get("/api/v1/items", {"page_size": page_size, **({"cursor": cursor} if cursor else {})})

    def events(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return self.post("/api/v1/events", {"events": rows}, scope="ingest")

    def get(self, path: str, params: dict[str, Any] | None = None, *, scope: str = "serve") -> dict[str, Any]:
        headers = self._serve if scope == "serve" else self._ingest
        return self._body(self._http.get(path, params={**(params or {}), **self._mark}, headers=headers))

    def post(self, path: str, body: dict[str, Any], *, scope: str = "serve") -> dict[str, Any]:
        headers = self._serve if scope == "serve" else self._ingest
        return self._body(self._http.post(path, params=self._mark, json=body, headers=headers))

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _body(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise ApiError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                           f"{response.text[:300]}")  # fmt: skip
        body: dict[str, Any] = response.json()
        return body
