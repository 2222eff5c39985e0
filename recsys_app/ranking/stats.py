"""Intervals and tests for experiment results: Wilson for rates, a bootstrap for means of
skewed per-unit values (revenue), a chi-square test of the assignment split (SRM)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

Z95 = 1.96


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float, float]:
    """Rate with its Wilson score 95% interval: (rate, low, high)."""
    if trials == 0:
        return 0.0, 0.0, 0.0
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return rate, max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean(values: list[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean with a 95% percentile-bootstrap interval over units: (mean, low, high). The seed is
    fixed so a page shows the same interval on every load."""
    if not values:
        return 0.0, 0.0, 0.0
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(data.mean()), float(low), float(high)


def srm_p_value(observed: list[int], weights: list[float]) -> float | None:
    """p-value of the units per variant against the configured weights (chi-square goodness of
    fit); None when there are too few units to tell (fewer than 5 expected in a variant)."""
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    if total == 0 or min(expected) < 5:
        return None
    return float(scipy_stats.chisquare(observed, expected).pvalue)
