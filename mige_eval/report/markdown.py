"""Markdown: the paper tables, a one-row-per-run overview, and per-run summaries with their environment."""

from __future__ import annotations

from collections.abc import Sequence

from mige_eval.metrics import metric_info
from mige_eval.report import comparability
from mige_eval.report.runs import RunInfo
from mige_eval.report.tables import GROUP_LABELS, Row, Table, fmt, fmt_delta, fmt_interval, row_label
from mige_eval.summary import metric_names


def _arrow(metric: str) -> str:
    return "↑" if metric_info(metric).higher_is_better else "↓"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _value_cell(row: Row, col, ci: bool) -> str:
    value = row.values.get(col)
    text = fmt(value)
    if col in row.best:
        text = f"**{text}**"
    if col in row.deltas:
        text += f" ({fmt_delta(row.deltas[col])})"
    if ci and value is not None and row.intervals.get(col):
        text += f" {fmt_interval(row.intervals[col])}"
    return text


def markdown_table(table: Table) -> str:
    """One paper table: caption, header with arrows, italic group rows, run rows beside published ones."""
    cols = table.spec.columns
    headers = [f"{c.header} {c.label} {_arrow(c.metric)}" for c in cols]
    lines = [
        f"**Table {table.spec.id}.** {_escape(table.caption)}",
        "",
        _line(["Method"] + headers),
        "|---|" + "---:|" * len(cols),
    ]
    group = None
    for row in table.rows:
        if row.group != group:
            group = row.group
            lines.append(f"| *{GROUP_LABELS.get(group, group)}* |" + " |" * len(cols))
        lines.append(_line([_escape(row_label(row))] + [_value_cell(row, c, table.ci) for c in cols]))
    if table.footnote:
        lines += ["", f"- note: {_escape(table.footnote)}"]
    return "\n".join(lines) + "\n"


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _standing(run: RunInfo) -> str:
    verdict = comparability.assess(run)
    return "–" if not verdict.published else ("yes" if verdict.comparable else "no")


def markdown_report(runs: Sequence[RunInfo], notes: Sequence[str] = ()) -> str:
    """Every run as one row (bench, model, samples, failures, whether it is comparable with the published
    rows, each metric mean, its directory), then the notes."""
    names = metric_names([{"metrics": r.figures.get("metrics", {})} for r in runs])
    lines = [
        _line(["bench", "model", "n", "failed", "comparable"] + [f"{n} {_arrow(n)}" for n in names] + ["run"]),
        "|---|---|---:|---:|---|" + "---:|" * len(names) + "---|",
    ]
    for r in runs:
        metrics = r.figures.get("metrics", {})
        n, failed = r.count()
        lines.append(
            _line(
                [r.bench, _escape(r.model), str(n), str(failed), _standing(r)]
                + [_mean(metrics.get(m)) for m in names]
                + [f"`{r.label}`"]
            )
        )
    out = "\n".join(lines) + "\n"
    if notes:
        out += "\nNotes:\n" + "".join(f"- {n}\n" for n in notes)
    return out


def _is_code(key: str) -> bool:
    """Facts shown as code: JSON, a command line, paths."""
    return (
        key in {"adapter config", "directory", "data", "backbone files"}
        or key.startswith("command")
        or key.endswith(" settings")
    )


def _mean_cell(part: dict, metric: str, ci: bool) -> str:
    text = _mean((part.get("metrics") or {}).get(metric))
    interval = (part.get("ci") or {}).get(metric) if ci else None
    return text + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")


def run_summary(run: RunInfo, ci: bool = False) -> str:
    """A run's Markdown section: settings, comparability and provenance (from run.json), per-subset means
    (with their intervals when ``ci``), its notes."""
    lines = [f"### {_escape(run.model)} on {run.bench} (`{run.label}`)", ""]
    lines += [f"- {key}: `{value}`" if _is_code(key) else f"- {key}: {_escape(value)}" for key, value in run.facts()]
    figures = run.figures
    names = list(figures.get("metrics") or {})
    if names:
        lines += [
            "",
            _line(["subset", "n", "failed"] + [f"{m} {_arrow(m)}" for m in names]),
            "|---|---:|---:|" + "---:|" * len(names),
        ]
        parts = [("all", figures)] + sorted((figures.get("subsets") or {}).items())
        for name, part in parts:
            lines.append(
                _line(
                    [_escape(name), str(part.get("n", 0)), str(part.get("n_failed", 0))]
                    + [_mean_cell(part, m, ci) for m in names]
                )
            )
    if run.summary.get("notes"):
        lines += [""] + [f"- note: {_escape(n)}" for n in run.summary["notes"]]
    return "\n".join(lines) + "\n"
