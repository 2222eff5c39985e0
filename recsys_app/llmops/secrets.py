"""Provider secrets and where providers may call.

A key typed in the console is stored encrypted (Fernet: AES-128-CBC with an HMAC), and
nothing ever decrypts it except the HTTP provider call: pages show only whether a key is set.
A key may instead come from the environment, but only from a variable named with
LLM_KEY_ENV_PREFIX, so a console user cannot send DATABASE_URL or the secret key as a bearer
token. HTTP providers may only reach hosts in LLM_PROVIDER_HOSTS.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretError(ValueError):
    """A secret that cannot be used: undecryptable, or from a variable that is not allowed."""


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    # A Fernet key is 32 url-safe base64 bytes; derive them from whatever material is configured.
    digest = hashlib.sha256(b"recsys-llm-secrets:" + material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _cipher() -> Fernet:
    return _fernet(settings.LLM_SECRETS_KEY or settings.SECRET_KEY)


def secret_encrypt(plain: str) -> str:
    return _cipher().encrypt(plain.encode()).decode() if plain else ""


def secret_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretError(
            "the stored key cannot be decrypted (LLM_SECRETS_KEY or SECRET_KEY changed); enter the key again"
        ) from exc


def env_name_problem(name: str) -> str | None:
    """Why this environment variable may not hold a provider key, or None."""
    prefix = settings.LLM_KEY_ENV_PREFIX
    if name and not (name.startswith(prefix) and len(name) > len(prefix) and name.replace("_", "").isalnum()):
        return f"must be an environment variable named {prefix}<NAME> (letters, digits, underscores), not '{name}'"
    return None


def env_secret(name: str) -> str:
    problem = env_name_problem(name)
    if problem:
        raise SecretError(f"api_key_env {problem}")
    return os.environ.get(name, "") if name else ""


def host_allowed(host: str) -> bool:
    host = host.lower().strip("[]")
    for pattern in settings.LLM_PROVIDER_HOSTS:
        pattern = pattern.lower().strip("[]")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def url_problem(url: str) -> str | None:
    """Why a provider may not call this base URL, or None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{url}' is not an http(s) URL with a host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; use the key field"
    if not host_allowed(parts.hostname):
        allowed = ", ".join(settings.LLM_PROVIDER_HOSTS) or "none configured"
        return (f"host '{parts.hostname}' is not in LLM_PROVIDER_HOSTS (allowed: {allowed}); "
                "an administrator adds it to the environment")  # fmt: skip
    if _link_local(parts.hostname):
        return f"host '{parts.hostname}' is a link-local address (cloud metadata services live there)"
    return None


def _link_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_link_local
    except ValueError:
        return False
