"""Uncertainty of a benchmark mean: a seeded percentile bootstrap that resamples independent units.

A benchmark's samples are not always independent: DreamBench's 25 prompts of one subject share its
input photo, MagicBrush's turns of one session edit the same photo. Resampling such samples one by one
understates the spread, so every interval here resamples *units* (clusters) with replacement and
recomputes the mean over all values of the drawn units (a ratio estimator: the sum of their values
over their count). With one sample per unit this is the ordinary bootstrap of the mean.

Defaults: 95 % percentile interval, 2,000 resamples, seed 0, so the same values always give the same
interval. The paired comparisons of ``mige-eval compare`` (:func:`sign_flip_test`,
:func:`wins_ties_losses`) treat units the same way. numpy only; no torch.
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


def bootstrap_means(
    sums: np.ndarray, counts: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
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


def mean_interval(
    values: Sequence[float],
    units: Sequence[Hashable] | None = None,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval | None:
    """The bootstrap interval of the mean of ``values``; ``None`` when there are fewer than two units
    (one unit has no spread to resample)."""
    sums, counts = cluster_sums(values, units)
    if len(sums) < 2:
        return None
    return percentile_interval(bootstrap_means(sums, counts, resamples=resamples, seed=seed), level)


# --- Paired comparisons of two runs (``mige-eval compare``) -------------------------------------------------
#
# The differences b - a of the samples two runs share are clustered like the samples themselves, so both
# the interval and the test treat a unit (a DreamBench subject, a MagicBrush session) as one draw:
# the interval is :func:`mean_interval` of the differences, and the test flips the sign of a whole
# unit's differences at once.

#: Random sign vectors drawn when exact enumeration is too large.
PERMUTATIONS = 10_000
#: Up to this many units, every one of the 2**units sign vectors is enumerated (exact p-value).
EXACT_MAX_UNITS = 16


@dataclass(frozen=True)
class SignFlip:
    p_value: float
    exact: bool
    draws: int  # sign vectors evaluated: 2**units when exact, else the random draws

    def to_json(self) -> dict:
        return {"p_value": self.p_value, "exact": self.exact, "draws": self.draws}


def sign_flip_test(
    differences: Sequence[float],
    units: Sequence[Hashable] | None = None,
    *,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
    exact_max_units: int = EXACT_MAX_UNITS,
) -> SignFlip:
    """Two-sided paired sign-flip (randomisation) test of "mean difference = 0".

    Under the null hypothesis the two runs are exchangeable within each unit, so every unit's
    differences may have their sign flipped together. The statistic is ``|mean difference|``; the
    p-value is the share of sign vectors whose statistic is at least the observed one. With at most
    ``exact_max_units`` units every vector is enumerated (the observed one included, so p >= 2 / 2**units
    when any difference is non-zero); otherwise ``permutations`` random vectors give the Monte Carlo
    estimate ``(1 + hits) / (1 + permutations)``, which never reports 0.
    """
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    sums, counts = cluster_sums(differences, units)
    if len(sums) == 0:
        raise ValueError("no differences to test")
    observed = abs(sums.sum())
    # Sums of the same magnitudes in another order can differ in the last bits: count those as ties.
    tolerance = 1e-9 * max(float(np.abs(sums).sum()), 1e-300)
    k = len(sums)
    if k <= exact_max_units:
        codes = np.arange(2**k, dtype=np.int64)[:, None] >> np.arange(k, dtype=np.int64)
        signs = 1.0 - 2.0 * (codes & 1)
        hits = int((np.abs(signs @ sums) >= observed - tolerance).sum())
        return SignFlip(hits / 2**k, True, 2**k)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, permutations, _BLOCK):
        stop = min(start + _BLOCK, permutations)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(stop - start, k))
        hits += int((np.abs(signs @ sums) >= observed - tolerance).sum())
    return SignFlip((1 + hits) / (1 + permutations), False, permutations)


def wins_ties_losses(
    baseline: Sequence[float], other: Sequence[float], *, higher_is_better: bool = True
) -> tuple[int, int, int]:
    """Samples where ``other`` is better than, equal to, worse than ``baseline`` (pairs in order)."""
    a, b = np.asarray(baseline, np.float64), np.asarray(other, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{len(a)} baseline values but {len(b)} values to compare")
    better = b > a if higher_is_better else b < a
    ties = a == b
    return int(better.sum()), int(ties.sum()), int(len(a) - better.sum() - ties.sum())
