"""The product as a client app sees it: its public REST API, nothing else."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(RuntimeError):
    pass


class ApiClient:
    """Serve-scope calls (lists) and ingest-scope calls (events), each with its own token."""

    def __init__(self, base_url: str, *, serve_token: str, ingest_token: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._serve = {"Authorization": f"Token {serve_token}"}
        self._ingest = {"Authorization": f"Token {ingest_token}"}

    def recommendations(self, *, user_id: str, surface: str = "home", k: int = 10,
                        session_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        params = {"user_id": user_id, "surface": surface, "k": k, **({"session_id": session_id} if session_id else {})}
        return self._get("/api/v1/recommendations", params)

    def similar(self, *, item_id: str, user_id: str, k: int = 10, session_id: str | None = None) -> dict[str, Any]:
        params = {"user_id": user_id, "k": k, **({"session_id": session_id} if session_id else {})}
        return self._get(f"/api/v1/items/{item_id}/similar", params)

    def events(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = self._http.post("/api/v1/events", json={"events": rows}, headers=self._ingest)
        return self._body(response)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._body(self._http.get(path, params=params, headers=self._serve))

    @staticmethod
    def _body(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise ApiError(f"{response.request.method} {response.request.url.path}: {response.status_code} "
                           f"{response.text[:300]}")  # fmt: skip
        body: dict[str, Any] = response.json()
        return body
