"""A Markdown table of one or more runs: one row per run, one column per metric."""
from __future__ import annotations

from typing import Sequence

from mige_eval.report.runs import RunInfo
from mige_eval.summary import metric_names

LOWER_IS_BETTER = frozenset({"l1", "l2"})


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def markdown_report(runs: Sequence[RunInfo], notes: Sequence[str] = ()) -> str:
    names = metric_names([{"metrics": r.summary.get("metrics", {})} for r in runs])
    arrows = [f"{n} {'↓' if n in LOWER_IS_BETTER else '↑'}" for n in names]
    lines = ["| bench | model | n | failed | " + " | ".join(arrows) + " |",
             "|---|---|---:|---:|" + "---:|" * len(names)]
    for r in runs:
        metrics = r.summary.get("metrics", {})
        cells = [_cell(metrics.get(n)) for n in names]
        lines.append(f"| {r.bench} | {r.model} | {r.summary.get('n', 0)} | {r.summary.get('n_failed', 0)} | "
                     + " | ".join(cells) + " |")
    out = "\n".join(lines) + "\n"
    all_notes = list(notes) + [f"{r.path}: {n}" for r in runs for n in r.summary.get("notes", [])]
    if all_notes:
        out += "\nNotes:\n" + "".join(f"- {n}\n" for n in all_notes)
    return out
