"""Metrics: each a pure function plus a small class declaring what it needs.

Registered lazily by name, so listing them imports no model code.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

from mige_eval.names import did_you_mean
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
            raise UnknownMetricError(
                f"unknown metric {name!r}.{did_you_mean(name, METRICS)} Known metrics: {', '.join(METRICS)}, or none"
            )
        if name not in names:
            names.append(name)
    return names


def metric_class(name: str):
    return import_spec(METRICS[name], what=f"metric {name!r}")


@cache
def metric_info(name: str) -> Any:
    """A metric's class attributes (``cosine``, ``higher_is_better``, ``label``): the one source of them.

    A name that is no registered metric (read from an older or foreign run) is taken as a plain
    higher-is-better number labelled by its name.
    """
    if name in METRICS:
        return metric_class(name)
    return SimpleNamespace(name=name, cosine=False, higher_is_better=True, label=name)
