"""pgvector's text form, for COPY payloads and for vectors read with `vector::text`."""

from __future__ import annotations

import numpy as np


def vector_literal(vector: np.ndarray) -> str:
    """'[0.1,0.2,...]': repr keeps every float32 digit, so a round trip is exact."""
    return "[" + ",".join(map(repr, vector.tolist())) + "]"


def parse_vector(text: str, dtype: type = np.float32) -> np.ndarray:
    return np.array(text[1:-1].split(","), dtype=dtype)
