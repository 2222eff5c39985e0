"""Model weights load only after their sha256 matches the pinned value."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path


class ModelFileError(RuntimeError):
    pass


@cache
def verify_sha256(path: Path, expected: str) -> Path:
    """Return `path` if its sha256 is `expected`; raise naming both digests otherwise."""
    if not path.is_file():
        raise ModelFileError(f"model file missing: {path}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelFileError(f"{path} has sha256 {digest.hexdigest()}, expected {expected}; refusing to load it")
    return path
