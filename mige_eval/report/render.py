"""``mige-eval report``: run directories in, a report out (Markdown, LaTeX, CSV or an HTML gallery).

Without ``--table`` the report covers every paper table its runs belong to (Markdown adds a
one-row-per-run overview, which also covers runs of benchmarks outside the paper). Notes on runs
that cannot be reported go into the report itself (Markdown, LaTeX comments, the gallery's index)
and into :attr:`Rendered.notes`, which the command line prints on stderr for CSV. ``ci`` adds each
run value's 95 % interval; ``scoring`` (keys) shows earlier scoring configurations
(:mod:`mige_eval.report.scorings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mige_eval.names import did_you_mean
from mige_eval.report.csv_table import csv_tables
from mige_eval.report.gallery import Progress, write_gallery
from mige_eval.report.latex import comment, latex_table
from mige_eval.report.markdown import markdown_report, markdown_table, run_summary
from mige_eval.report.runs import RunInfo, find_runs
from mige_eval.report.scorings import choose
from mige_eval.report.tables import TABLES, Table, build_table, tables_for

FORMATS = ("markdown", "latex", "csv", "html")


@dataclass
class Rendered:
    text: str  # the report (html: one line naming the gallery)
    notes: list[str]  # runs that could not be reported, partial files, images the gallery could not show
    path: Path | None = None  # the file or gallery folder written, if any


def table_ids(table: str | None, runs: Sequence[RunInfo]) -> list[str]:
    """``--table`` as paper table ids; "3" stands for 3a and 3b; none: the tables the runs belong to."""
    if table is None:
        return tables_for(runs)
    ids = ["3a", "3b"] if str(table) == "3" else [str(table)]
    unknown = [t for t in ids if t not in TABLES]
    if unknown:
        raise ValueError(
            f"unknown --table {table!r}: use one of {', '.join(TABLES)} (or 3 for 3a and 3b)."
            f"{did_you_mean(table, [*TABLES, '3'])}"
        )
    return ids


def markdown_document(tables: Sequence[Table], runs: Sequence[RunInfo], notes: Sequence[str], ci: bool = False) -> str:
    parts = [markdown_table(t) for t in tables]
    parts.append("## Runs\n\n" + markdown_report(runs))
    parts += [run_summary(r, ci) for r in runs]
    if notes:
        parts.append("## Notes\n\n" + "".join(f"- {n}\n" for n in notes))
    return "\n".join(parts)


def latex_document(tables: Sequence[Table], runs: Sequence[RunInfo], notes: Sequence[str]) -> str:
    lines = [comment(f"note: {n}") for n in notes]
    for run in runs:
        lines += [comment(f"run {run.label}: {key}: {value}") for key, value in run.facts()]
    head = "\n".join(lines) + "\n" if lines else ""
    return head + "\n".join(latex_table(t) for t in tables)


def _need_tables(tables: Sequence[Table], fmt: str) -> None:
    if not tables:
        benches = sorted({b for spec in TABLES.values() for b in spec.benches})
        raise ValueError(
            f"--format {fmt} prints paper tables, and no run found belongs to one (benchmarks "
            f"{', '.join(benches)}); pass --table 1, 2, 3a or 3b for the published rows alone"
        )


def render(
    paths: Iterable[Path],
    fmt: str = "markdown",
    table: str | None = None,
    published: bool = True,
    output: Path | None = None,
    *,
    data_roots: dict[str, Path] | None = None,
    notes: Sequence[str] = (),
    ci: bool = False,
    scoring: Sequence[str] = (),
    progress: Progress | None = None,
) -> Rendered:
    """The report of the runs under ``paths``; written to ``output`` when given (html: a folder, required).

    ``data_roots`` (benchmark -> dataset folder) overrides the folders the runs recorded, for the
    gallery's instructions and references; ``notes`` are the caller's own (e.g. skipped runs); ``ci``
    shows each run value's 95 % bootstrap interval; ``scoring`` lists scoring keys to show instead of
    their metric's current configuration; ``progress`` follows the gallery's rows
    (:func:`mige_eval.report.gallery.write_gallery`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}.{did_you_mean(fmt, FORMATS)}")
    if fmt == "html" and output is None:
        raise ValueError("--format html writes a gallery folder: give it with --out DIR")
    runs, found_notes = find_runs(paths)
    notes = [*notes, *found_notes, *choose(runs, scoring)]
    tables = [build_table(t, runs, published=published, ci=ci) for t in table_ids(table, runs)]
    if fmt == "html":
        extra = write_gallery(Path(output), runs, tables, notes, data_roots=data_roots, progress=progress)
        return Rendered(f"gallery written to {Path(output) / 'index.html'}\n", [*notes, *extra], Path(output))
    if fmt == "markdown":
        text = markdown_document(tables, runs, notes, ci)
    else:
        _need_tables(tables, fmt)
        text = latex_document(tables, runs, notes) if fmt == "latex" else csv_tables(tables)
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return Rendered(text, list(notes), output)
