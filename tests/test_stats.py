"""Bootstrap intervals over units and the paired tests of ``compare``, against independent computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bootstrap_reference import reference_interval
from mige_eval import stats


def clustered(subjects: int = 30, per: int = 25, seed: int = 1) -> tuple[list[float], list[str]]:
    """DreamBench-shaped values: a strong subject effect plus per-prompt noise."""
    rng = np.random.default_rng(seed)
    values, units = [], []
    for s in range(subjects):
        level = rng.normal(0.7, 0.1)
        for _ in range(per):
            values.append(float(level + rng.normal(0, 0.02)))
            units.append(f"subject{s}")
    return values, units


def test_unit_bootstrap_matches_an_independent_computation():
    values, units = clustered()
    interval = stats.mean_interval(values, units)
    low, high = reference_interval(values, units)
    assert interval.low == pytest.approx(low, abs=1e-12) and interval.high == pytest.approx(high, abs=1e-12)
    # resampling prompts one by one ignores that a subject's 25 prompts move together: far too narrow
    per_sample = stats.mean_interval(values)
    assert (per_sample.high - per_sample.low) < 0.35 * (interval.high - interval.low)
    # the interval of the unit means' spread: about 2 * 1.96 * sd(subject means) / sqrt(30)
    subject_means = np.array(values).reshape(30, 25).mean(axis=1)
    expected_width = 2 * 1.96 * subject_means.std(ddof=1) / np.sqrt(30)
    assert (interval.high - interval.low) == pytest.approx(expected_width, rel=0.15)


def test_two_units_give_the_two_unit_means():
    """With two units, a quarter of the resamples draws one unit twice: the 2.5 % and 97.5 % points are
    exactly the two units' own means (unequal sizes: a ratio, not a mean of means)."""
    values = [1.0, 2.0, 3.0, 10.0, 12.0]
    units = ["a", "a", "a", "b", "b"]
    interval = stats.mean_interval(values, units)
    assert (interval.low, interval.high) == (2.0, 11.0)
    assert stats.mean_interval([0.5], ["a"]) is None and stats.mean_interval([0.5, 0.7], ["a", "a"]) is None


def test_sign_flip_p_value_is_exact_by_enumeration():
    diffs = [0.3, 0.1, -0.05, 0.2, 0.25, 0.15, -0.1]
    units = ["u1", "u1", "u2", "u3", "u3", "u4", "u5"]
    sums = {}
    for d, u in zip(diffs, units):
        sums[u] = sums.get(u, 0.0) + d
    observed = abs(sum(sums.values()))
    flips = list(itertools.product([-1, 1], repeat=len(sums)))
    hits = sum(abs(sum(s * v for s, v in zip(signs, sums.values()))) >= observed - 1e-12 for signs in flips)
    result = stats.sign_flip_test(diffs, units)
    assert result.exact and result.draws == 32 and result.p_value == hits / 32
    # by hand: unit sums 0.4, -0.05, 0.45, 0.15, -0.1 (|sum| 0.85 of at most 1.15); a vector reaches 0.85 when
    # the magnitudes it flips against the rest sum to <= 0.15: {}, {.05}, {.1}, {.15}, {.05, .1}, and mirrors
    assert result.p_value == pytest.approx(10 / 32)
    # per sample (each difference its own unit): 2**7 vectors
    assert stats.sign_flip_test(diffs).draws == 128


def test_sign_flip_edge_cases():
    assert stats.sign_flip_test([0.0, 0.0, 0.0]).p_value == 1.0
    assert stats.sign_flip_test([0.4]).p_value == 1.0  # one unit: +d and -d are equally extreme
    assert stats.sign_flip_test([0.1] * 5).p_value == pytest.approx(2 / 32)  # the smallest possible with 5 units
    with pytest.raises(ValueError, match="no differences"):
        stats.sign_flip_test([])
    with pytest.raises(ValueError, match="permutations must be >= 1"):
        stats.sign_flip_test([0.1], permutations=0)


def test_monte_carlo_p_value_agrees_with_the_exact_one():
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.05, 0.2, 12).tolist()
    exact = stats.sign_flip_test(diffs)
    sampled = stats.sign_flip_test(diffs, exact_max_units=4, permutations=20_000, seed=7)
    assert exact.exact and not sampled.exact and sampled.draws == 20_000
    assert abs(sampled.p_value - exact.p_value) < 4 * np.sqrt(exact.p_value * (1 - exact.p_value) / 20_000) + 1e-4
    # seeded: the same call gives the same p; never 0
    assert stats.sign_flip_test(diffs, exact_max_units=4, seed=7, permutations=20_000) == sampled
    assert stats.sign_flip_test([1.0] * 40).p_value == pytest.approx(1 / 10_001)


def test_wins_ties_losses_respect_the_direction():
    a = [0.5, 0.5, 0.2, 0.9]
    b = [0.6, 0.5, 0.1, 0.9]
    assert stats.wins_ties_losses(a, b) == (1, 2, 1)
    assert stats.wins_ties_losses(a, b, higher_is_better=False) == (1, 2, 1)
    assert stats.wins_ties_losses([0.1, 0.2], [0.05, 0.01], higher_is_better=False) == (2, 0, 0)
    with pytest.raises(ValueError, match="2 baseline values but 1"):
        stats.wins_ties_losses([0.1, 0.2], [0.3])
