"""Uncertainty of a benchmark mean: a seeded percentile bootstrap that resamples independent units.

A benchmark's samples are not always independent: DreamBench's 25 prompts of one subject share its
input photo, MagicBrush's turns of one session edit the same photo. Resampling such samples one by one
understates the spread, so every interval here resamples *units* (clusters) with replacement and
recomputes the mean over all values of the drawn units (a ratio estimator: the sum of their values
over their count). With one sample per unit this is the ordinary bootstrap of the mean.

Defaults: 95 % percentile interval, 2,000 resamples, seed 0, so the same values always give the same
interval. numpy only; no torch.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
SEED = 0
#: Resamples drawn per block, so memory stays bounded on large benchmarks.
_BLOCK = 250


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def to_json(self) -> list[float]:
        return [self.low, self.high]


def cluster_sums(values: Sequence[float], units: Sequence[Hashable] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the sum of its values and how many it has (each value its own unit when ``units`` is None)."""
    x = np.asarray(values, np.float64)
    if units is None:
        return x, np.ones_like(x)
    if len(units) != len(x):
        raise ValueError(f"{len(x)} values but {len(units)} unit labels")
    index: dict[Hashable, int] = {}
    codes = np.array([index.setdefault(u, len(index)) for u in units], np.int64)
    return np.bincount(codes, weights=x, minlength=len(index)), np.bincount(codes, minlength=len(index)).astype(float)


def bootstrap_means(sums: np.ndarray, counts: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``resamples`` means of units drawn with replacement (ratio of drawn sums to drawn counts)."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(sums)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for start in range(0, resamples, _BLOCK):
        stop = min(start + _BLOCK, resamples)
        draw = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    return out


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> Interval:
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(low), float(high))


def mean_interval(values: Sequence[float], units: Sequence[Hashable] | None = None, *, level: float = LEVEL,
                  resamples: int = RESAMPLES, seed: int = SEED) -> Interval | None:
    """The bootstrap interval of the mean of ``values``; ``None`` when there are fewer than two units
    (one unit has no spread to resample)."""
    sums, counts = cluster_sums(values, units)
    if len(sums) < 2:
        return None
    return percentile_interval(bootstrap_means(sums, counts, resamples=resamples, seed=seed), level)
