"""Metrics: each a pure function plus a small class declaring what it needs.

Registered lazily by name, so listing them imports no model code.
"""
from __future__ import annotations

import difflib

from mige_eval.registry import import_spec

METRICS: dict[str, str] = {
    "dino": "mige_eval.metrics.similarity:Dino",
    "clip_i": "mige_eval.metrics.similarity:ClipI",
    "clip_t": "mige_eval.metrics.similarity:ClipT",
    "clip_t_oracle": "mige_eval.metrics.similarity:ClipTOracle",
    "clip_dir": "mige_eval.metrics.similarity:ClipDir",
    "l1": "mige_eval.metrics.pixel:L1",
    "l2": "mige_eval.metrics.pixel:L2",
    "subject_dino": "mige_eval.metrics.subject:SubjectDino",
    "subject_clip_i": "mige_eval.metrics.subject:SubjectClipI",
    "vie_sc": "mige_eval.metrics.viescore:VieSc",
    "vie_pq": "mige_eval.metrics.viescore:ViePq",
    "vie_o": "mige_eval.metrics.viescore:VieO",
    "judge_cp": "mige_eval.metrics.dreambench_plus:JudgeCp",
    "judge_pf": "mige_eval.metrics.dreambench_plus:JudgePf",
    "judge_cp_pf": "mige_eval.metrics.dreambench_plus:JudgeCpPf",
}


class UnknownMetricError(LookupError):
    pass


def parse_metric_names(text: str | None, default: list[str]) -> list[str]:
    """``--metrics a,b`` → names in order (duplicates dropped); ``none`` → []; ``None`` → the default."""
    if text is None:
        return list(default)
    if text.strip().lower() == "none":
        return []
    names: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        if name not in METRICS:
            close = difflib.get_close_matches(name, list(METRICS), n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise UnknownMetricError(f"unknown metric {name!r}.{hint} Known metrics: {', '.join(METRICS)}, or none")
        if name not in names:
            names.append(name)
    return names


def metric_class(name: str):
    return import_spec(METRICS[name], what=f"metric {name!r}")
