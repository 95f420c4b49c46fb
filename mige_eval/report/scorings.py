"""Which scoring configuration a report shows: each metric's current one, or one chosen with ``--scoring``.

A run keeps the values of every configuration it was ever scored under (``summary.json`` ``scorings``:
key -> mean, interval, count). ``--scoring KEY`` shows that configuration for its metric in every run
that has it. The overall mean and interval come from ``summary.json`` as written; the summary keeps
per-subset numbers only for the current configurations, so those of an earlier one (Tables 3a/3b show
subsets) are summarised from the per-sample values in ``samples.jsonl`` by the same code that wrote the
summary (:func:`mige_eval.summary.summarize`). No score is ever recomputed from an image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mige_eval.records import view
from mige_eval.report.comparability import describe
from mige_eval.report.runs import RunInfo, read_records
from mige_eval.summary import summarize

_KEY = re.compile(r"^[a-z0-9_]+@[0-9a-f]{10}$")


def _parse(keys: Sequence[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for key in keys:
        if not _KEY.match(key):
            raise ValueError(
                f"--scoring {key!r} is not a scoring key: keys look like clip_i@0123456789 "
                "(see 'scoring' in a run's summary.json, or the report's run notes)"
            )
        metric = key.partition("@")[0]
        if chosen.get(metric, key) != key:
            raise ValueError(
                f"--scoring names two configurations of {metric}: {chosen[metric]} and {key}; "
                "a report shows one per metric"
            )
        chosen[metric] = key
    return chosen


def _known(runs: Sequence[RunInfo], metric: str) -> str:
    seen: dict[str, str] = {}
    for run in runs:
        settings = run.run.get("scorings") or {}
        for key, info in (run.summary.get("scorings") or {}).items():
            if info.get("metric") == metric:
                seen.setdefault(key, describe((settings.get(key) or {}).get("settings") or {}))
    return "; ".join(f"{k} ({d})" for k, d in seen.items()) or "none"


def choose(runs: Sequence[RunInfo], keys: Sequence[str]) -> list[str]:
    """Show the configurations ``keys`` in the runs that have them; notes for the runs that do not.

    Raises ValueError when a key is malformed, two keys name one metric, or no run has a key."""
    chosen = _parse(keys)
    notes = []
    for metric, key in chosen.items():
        having = [r for r in runs if key in (r.summary.get("scorings") or {})]
        if not having:
            raise ValueError(
                f"no run in the report has scoring configuration {key}; the runs' configurations of "
                f"{metric}: {_known(runs, metric)}"
            )
        for run in runs:
            if run in having:
                run.shown[metric] = key
            elif metric in (run.summary.get("scoring") or {}):
                notes.append(
                    f"{run.label}: no {metric} values under {key}; its current configuration "
                    f"{run.summary['scoring'][metric]} is shown"
                )
    for run in runs:
        current = run.summary.get("scoring") or {}
        if any(current.get(m) != k for m, k in run.shown.items()):
            run.numbers = numbers_under(run, run.keys())
    return notes


def numbers_under(run: RunInfo, keys: dict[str, str]) -> dict[str, Any]:
    """``summary.json``-shaped numbers of ``run`` under the scoring configurations ``keys`` (metric -> key).

    Overall means and intervals are those ``summary.json`` holds for each key; counts, subsets, missing
    samples and completeness are summarised from the per-sample entries of ``samples.jsonl``."""
    records, _ = read_records(run.path)
    summary = run.summary
    uncertainty = summary.get("uncertainty") or {}
    out = summarize(
        [view(r, keys) for r in records],
        bench=run.bench,
        model=run.model,
        scale=run.scale,
        expected=summary.get("expected"),
        notes=summary.get("notes") or (),
        current=keys,
        unit=uncertainty.get("unit", "sample"),
    )
    stored = summary.get("scorings") or {}
    for metric, key in keys.items():
        if key in stored:
            out["metrics"][metric], out["ci"][metric] = stored[key].get("mean"), stored[key].get("ci")
    return out
