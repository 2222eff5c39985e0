"""The one interval the simulator reports itself (the product computes its own)."""

from __future__ import annotations

import math


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float, float]:
    """(rate, low, high): the Wilson score interval, sound for small counts and rates near 0."""
    if trials <= 0:
        return 0.0, 0.0, 1.0  # nothing observed: anything is possible
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return rate, max(0.0, centre - half), min(1.0, centre + half)
