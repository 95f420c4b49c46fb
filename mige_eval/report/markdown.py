"""Markdown: the paper tables, a one-row-per-run overview, and per-run summaries with their environment."""
from __future__ import annotations

from collections.abc import Sequence

from mige_eval.report.runs import RunInfo
from mige_eval.report.tables import GROUP_LABELS, LOWER_IS_BETTER, Row, Table, fmt, fmt_delta
from mige_eval.summary import metric_names


def _arrow(metric: str) -> str:
    return "↓" if metric in LOWER_IS_BETTER else "↑"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _value_cell(row: Row, col) -> str:
    value = row.values.get(col)
    text = fmt(value)
    if col in row.best:
        text = f"**{text}**"
    if col in row.deltas:
        text += f" ({fmt_delta(row.deltas[col])})"
    return text


def markdown_table(table: Table) -> str:
    """One paper table: caption, header with arrows, italic group rows, run rows beside published ones."""
    cols = table.spec.columns
    headers = [f"{c.header} {c.label} {_arrow(c.metric)}" for c in cols]
    lines = [f"**Table {table.spec.id}.** {_escape(table.caption)}", "",
             _line(["Method"] + headers), "|---|" + "---:|" * len(cols)]
    group = None
    for row in table.rows:
        if row.group != group:
            group = row.group
            lines.append(f"| *{GROUP_LABELS.get(group, group)}* |" + " |" * len(cols))
        lines.append(_line([_escape(row.label)] + [_value_cell(row, c) for c in cols]))
    if table.notes:
        lines += [""] + [f"- {_escape(n)}" for n in table.notes]
    return "\n".join(lines) + "\n"


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def markdown_report(runs: Sequence[RunInfo], notes: Sequence[str] = ()) -> str:
    """Every run as one row (bench, model, samples, failures, each metric mean, its directory), then the notes."""
    names = metric_names([{"metrics": r.summary.get("metrics", {})} for r in runs])
    lines = [_line(["bench", "model", "n", "failed"] + [f"{n} {_arrow(n)}" for n in names] + ["run"]),
             "|---|---|---:|---:|" + "---:|" * len(names) + "---|"]
    for r in runs:
        metrics = r.summary.get("metrics", {})
        n, failed = r.count()
        lines.append(_line([r.bench, _escape(r.model), str(n), str(failed)] + [_mean(metrics.get(m)) for m in names]
                           + [f"`{r.label}`"]))
    out = "\n".join(lines) + "\n"
    if notes:
        out += "\nNotes:\n" + "".join(f"- {n}\n" for n in notes)
    return out


#: Facts shown as code (they are JSON or a command line).
_CODE_FACTS = frozenset({"adapter config", "command"})


def run_summary(run: RunInfo) -> str:
    """A run's Markdown section: settings and environment (from run.json), per-subset means, its notes."""
    lines = [f"### {_escape(run.model)} on {run.bench} (`{run.label}`)", ""]
    lines += [f"- {key}: `{value}`" if key in _CODE_FACTS else f"- {key}: {_escape(value)}"
              for key, value in run.facts()]
    names = list(run.summary.get("metrics") or {})
    if names:
        lines += ["", _line(["subset", "n", "failed"] + [f"{m} {_arrow(m)}" for m in names]),
                  "|---|---:|---:|" + "---:|" * len(names)]
        parts = [("all", run.summary)] + sorted((run.summary.get("subsets") or {}).items())
        for name, part in parts:
            means = part.get("metrics") or {}
            lines.append(_line([_escape(name), str(part.get("n", 0)), str(part.get("n_failed", 0))]
                               + [_mean(means.get(m)) for m in names]))
    if run.summary.get("notes"):
        lines += [""] + [f"- note: {_escape(n)}" for n in run.summary["notes"]]
    return "\n".join(lines) + "\n"
