"""An independent bootstrap of a mean over whole units, for checking :mod:`mige_eval.stats`.

Plain Python loops over per-unit value lists. It draws unit indices as the project's seeded contract
does (blocks of ``block`` resamples of ``k`` indices from ``numpy.random.default_rng(seed)``), so for
the same values it must give the same interval; everything else (grouping, the ratio of drawn sums
to drawn counts, the percentiles) is computed here on its own.
"""

from __future__ import annotations

import numpy as np


def reference_interval(values, units, *, resamples=2000, seed=0, block=250) -> tuple[float, float]:
    by_unit: dict = {}
    for value, unit in zip(values, units):
        by_unit.setdefault(unit, []).append(value)
    lists = list(by_unit.values())
    k = len(lists)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, block):
        for draw in rng.integers(0, k, size=(min(block, resamples - start), k)):
            chosen = [v for i in draw for v in lists[i]]
            means.append(sum(chosen) / len(chosen))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
