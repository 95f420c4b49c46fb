"""The paper's tables assembled from published numbers and run summaries (never recomputed).

A table has the paper's layout: metric columns grouped under a header (a benchmark, or "Editing" /
"Subject preserving"), rows grouped as in the paper (the CSV's ``group`` column). A run row sits right
after the published row of the method it reproduces, with the difference to that row; runs of other
models go to a final "Other runs" group (``copy-source`` to "Reference").

A run's values stand beside the published ones only where the run is comparable with them
(:mod:`mige_eval.report.comparability`: complete, default backbones and presets or the row's own
convention). Values of a run that is not are shown, marked with a dagger and the reasons in the
table's footnote, and never differenced or bold. The best value per column, as printed (3 decimals),
is bold over every comparable row but the reference and ablation rows. With ``ci`` each run value
carries its 95 % bootstrap interval from ``summary.json``; published values have none.

Renderers (Markdown, LaTeX, CSV, HTML) only format a :class:`Table`; every decision is made here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from mige_eval.metrics import metric_info
from mige_eval.report.comparability import Verdict, assess
from mige_eval.report.published import PublishedValue, match_method, published_values
from mige_eval.report.runs import RunInfo

BENCH_LABELS = {"emuedit": "Emu Edit", "magicbrush": "MagicBrush", "dreambench": "DreamBench", "migebench": "MIGEBench"}
GROUP_LABELS = {
    "reference": "Reference",
    "task-specific": "Task-specific",
    "unified": "Unified",
    "mask-dependent": "Mask-dependent",
    "mask-free": "Mask-free",
    "ablation": "Ablation",
    "runs": "Other runs",
}
#: Groups whose rows never count as the best of a column: an unchanged input is no method, and an
#: ablation is a weakened variant of MIGE, not a competitor.
NOT_COMPARED = frozenset({"reference", "ablation"})
#: Marks a row that is not comparable with the published rows; the footnote gives the reasons.
DAGGER = "†"
UNIT_WORDS = {"subject": "subjects", "session": "sessions", "sample": "samples"}


@dataclass(frozen=True)
class Column:
    header: str  # the column group: a benchmark, or "Editing" / "Subject preserving"
    bench: str
    subset: str | None  # None: the run's overall mean
    metric: str

    @property
    def label(self) -> str:
        return metric_info(self.metric).label

    @property
    def higher_is_better(self) -> bool:
        return metric_info(self.metric).higher_is_better


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    columns: tuple[Column, ...]

    @property
    def benches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.bench for c in self.columns))


def _cols(header: str, bench: str, subset: str | None, metrics: str) -> tuple[Column, ...]:
    return tuple(Column(header, bench, subset, m) for m in metrics.split())


_EDIT = "dino clip_i clip_t clip_dir l1 l2"
TABLES: dict[str, TableSpec] = {
    "1": TableSpec(
        "1",
        "Instruction-based image editing on Emu Edit and MagicBrush (MIGE paper, Table 1)",
        _cols("Emu Edit", "emuedit", None, _EDIT) + _cols("MagicBrush", "magicbrush", None, _EDIT),
    ),
    "2": TableSpec(
        "2",
        "Subject-driven image generation on DreamBench (MIGE paper, Table 2)",
        _cols("DreamBench", "dreambench", None, "dino clip_i clip_t"),
    ),
    **{
        tid: TableSpec(
            tid,
            f"Instruction-based subject-driven editing on MIGEBench, subject {word} "
            f"(MIGE paper, Table {tid[0]}({tid[1]}))",
            _cols("Editing", "migebench", subset, "dino clip_i clip_t")
            + _cols("Subject preserving", "migebench", subset, "subject_dino subject_clip_i"),
        )
        for tid, subset, word in (("3a", "add", "addition"), ("3b", "replace", "replacement"))
    },
}


@dataclass
class Row:
    label: str
    group: str
    kind: str  # "published" or "run"
    values: dict[Column, float | None]
    deltas: dict[Column, float] = field(default_factory=dict)
    best: set[Column] = field(default_factory=set)
    runs: tuple[RunInfo, ...] = ()
    method: str | None = None  # the published method this row is or reproduces
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # benchmark -> verdict of the row's run on it
    intervals: dict[Column, list[float] | None] = field(default_factory=dict)

    def run_for(self, col: Column) -> RunInfo | None:
        return next((r for r in self.runs if r.bench == col.bench), None)

    def comparable_in(self, col: Column) -> bool:
        """Whether this row's value in ``col`` may be set against the published rows (published rows are)."""
        verdict = self.verdicts.get(col.bench)
        return self.kind == "published" or (verdict is not None and verdict.comparable)

    @property
    def marked(self) -> bool:
        """A run row with a value some benchmark's verdict keeps apart from the published rows."""
        return self.kind == "run" and any(not v.comparable for v in self.verdicts.values())

    def reasons(self) -> list[tuple[str | None, list[str]]]:
        """Why the row is not comparable: (benchmark label, or None when the row has one run; reasons)."""
        several = len(self.verdicts) > 1
        return [
            (BENCH_LABELS.get(bench, bench) if several else None, verdict.reasons)
            for bench, verdict in self.verdicts.items()
            if verdict.reasons
        ]


@dataclass
class Table:
    spec: TableSpec
    rows: list[Row]
    caption: str
    footnote: str = ""  # the dagger's text: every marked row and its reasons ("" when none is marked)
    ci: bool = False


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def fmt_delta(delta: float) -> str:
    return f"{delta:+.3f}".replace("-0.000", "+0.000")


def fmt_interval(interval: list[float] | None) -> str:
    return "" if not interval else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def row_label(row: Row) -> str:
    """The row's label, with the dagger when it is not comparable with the published rows."""
    return f"{row.label} {DAGGER}" if row.marked else row.label


def tables_for(runs: Sequence[RunInfo]) -> list[str]:
    """The paper tables that at least one run contributes to, in paper order."""
    benches = {r.bench for r in runs}
    return [tid for tid, spec in TABLES.items() if benches & set(spec.benches)]


def _published_rows(spec: TableSpec) -> list[Row]:
    by_method: dict[str, list[PublishedValue]] = defaultdict(list)
    for v in published_values():
        if v.table == spec.id:
            by_method[v.method].append(v)
    rows = []
    for method, values in by_method.items():
        found = {(v.benchmark, v.metric): v.value for v in values}
        rows.append(
            Row(
                method,
                values[0].group,
                "published",
                {c: found.get((c.bench, c.metric)) for c in spec.columns},
                method=method,
            )
        )
    return rows


def _run_rows(spec: TableSpec, runs: Sequence[RunInfo], published: list[Row]) -> list[Row]:
    """One row per model whose runs cover each benchmark at most once, else one row per run directory."""
    by_model: dict[str, list[RunInfo]] = defaultdict(list)
    for run in runs:
        if run.bench in spec.benches:
            by_model[run.model].append(run)
    methods = {row.method: row for row in published}
    rows = []
    for model, model_runs in by_model.items():
        method = match_method(model, list(methods))
        target = methods.get(method)
        group = target.group if target else ("reference" if model == "copy-source" else "runs")
        benches = [r.bench for r in model_runs]
        split = len(benches) != len(set(benches))
        for members in [[r] for r in model_runs] if split else [model_runs]:
            label = f"{method or model} (run{' ' + members[0].label if split else ''})"
            values = {
                c: next((r.value(c.metric, c.subset) for r in members if r.bench == c.bench), None)
                for c in spec.columns
            }
            row = Row(
                label,
                group,
                "run",
                values,
                runs=tuple(members),
                method=method,
                verdicts={r.bench: assess(r) for r in members},
                intervals={
                    c: next((r.interval(c.metric, c.subset) for r in members if r.bench == c.bench), None)
                    for c in spec.columns
                },
            )
            if target:
                row.deltas = {
                    c: round(v, 3) - target.values[c]
                    for c, v in values.items()
                    if v is not None and target.values.get(c) is not None and row.comparable_in(c)
                }
            rows.append(row)
    return rows


def _order(published: list[Row], run_rows: list[Row], show_published: bool) -> list[Row]:
    groups = list(dict.fromkeys(["reference"] + [r.group for r in published] + ["runs"]))
    ordered = []
    for group in groups:
        for row in (r for r in published if r.group == group):
            if show_published:
                ordered.append(row)
            ordered.extend(sorted((r for r in run_rows if r.method == row.method), key=lambda r: r.label))
        ordered.extend(sorted((r for r in run_rows if r.group == group and r.method is None), key=lambda r: r.label))
    return ordered


def _mark_best(rows: list[Row], columns: Sequence[Column]) -> None:
    for col in columns:
        shown = [
            (round(r.values[col], 3), r)
            for r in rows
            if r.group not in NOT_COMPARED and r.comparable_in(col) and r.values.get(col) is not None
        ]
        if not shown:
            continue
        best = max(v for v, _ in shown) if col.higher_is_better else min(v for v, _ in shown)
        for value, row in shown:
            if value == best:
                row.best.add(col)


def _where(spec: TableSpec, run: RunInfo) -> tuple[str, str | None]:
    subset = next((c.subset for c in spec.columns if c.bench == run.bench), None)
    return f"{BENCH_LABELS.get(run.bench, run.bench)}{' ' + subset if subset else ''}", subset


def _run_count(run: RunInfo, subset: str | None) -> str:
    """``"56 of 750 samples, 0 failed"``; for a subset, its own count and, if the run is short, the run's."""
    n, failed = run.count(subset)
    expected = run.figures.get("expected")
    if subset is None:
        return f"{n:,} of {expected:,} samples, {failed:,} failed" if expected else f"{n:,} samples, {failed:,} failed"
    total, _ = run.count()
    short = f" (the run holds {total:,} of {expected:,} samples)" if expected and total < expected else ""
    return f"{n:,} samples, {failed:,} failed{short}"


def _intervals_sentence(runs: Sequence[RunInfo]) -> str:
    """How the intervals were computed, from the runs' own records of it (``summary.json`` ``uncertainty``)."""
    recorded = [(run, run.figures["uncertainty"]) for run in runs if run.figures.get("uncertainty")]
    if not recorded:
        return "The runs' summaries record no confidence intervals."
    units: dict[str, str] = {}
    for run, info in recorded:
        unit = info.get("unit", "sample")
        units.setdefault(BENCH_LABELS.get(run.bench, run.bench), UNIT_WORDS.get(unit, unit + "s"))
    info = recorded[0][1]
    over = ", ".join(f"{u} for {b}" for b, u in units.items())
    return (
        f"Brackets: {round(100 * info['level'])}% confidence intervals of the run means, percentile bootstrap "
        f"resampling {over} ({info['resamples']:,} resamples, seed {info['seed']}); published values have none."
    )


def _caption(spec: TableSpec, rows: list[Row], show_published: bool, ci: bool) -> str:
    parts = [
        f"{spec.title}. Higher is better for every metric but L1 and L2; the best value per column is in bold "
        "(among the methods' rows comparable with the published ones)."
    ]
    if show_published:
        parts.append(
            "Published rows are as printed in the paper (the numbers of other methods were copied "
            "there from earlier papers, which did not all use the same backbones)."
        )
    run_rows = [r for r in rows if r.kind == "run"]
    if not run_rows:
        parts.append("No run of this table's benchmarks was found.")
        return " ".join(parts)
    counts, settings = [], []
    for row in run_rows:
        for run in row.runs:
            where, subset = _where(spec, run)
            counts.append(f"{row.label} on {where}: {_run_count(run, subset)}")
            words = [str(d) for d in row.verdicts[run.bench].deviations]
            if words:
                settings.append(f"{row.label} on {where}: {', '.join(words)}")
    parts.append("Runs: " + "; ".join(counts) + ".")
    if show_published and any(r.deltas for r in run_rows):
        parts.append("Differences to the published row of the same method are in parentheses.")
    if settings:
        others = "; the other runs use them" if len(settings) < sum(len(r.runs) for r in run_rows) else ""
        parts.append(
            f"Settings other than the benchmark's default backbones and presets: {'; '.join(settings)}{others}."
        )
    else:
        parts.append("All runs use the benchmark's default backbones and presets.")
    if any(r.marked for r in run_rows):
        parts.append(f"{DAGGER} Not comparable with the published rows (see the note): neither bold nor differenced.")
    if ci:
        parts.append(_intervals_sentence([run for row in run_rows for run in row.runs]))
    return " ".join(parts)


def _footnote(rows: list[Row]) -> str:
    marked = [
        f"{row.label}{' on ' + bench if bench else ''}: {'; '.join(reasons)}"
        for row in rows
        if row.marked
        for bench, reasons in row.reasons()
    ]
    if not marked:
        return ""
    return (
        f"{DAGGER} Not comparable with the published rows, so neither bold nor differenced. " + ". ".join(marked) + "."
    )


def build_table(table_id: str, runs: Sequence[RunInfo], *, published: bool = True, ci: bool = False) -> Table:
    """Table ``table_id`` (1, 2, 3a, 3b) from the runs of its benchmarks, with or without the published rows;
    ``ci``: with each run value's 95 % bootstrap interval."""
    if table_id not in TABLES:
        raise ValueError(f"unknown table {table_id!r}: the paper's tables are {', '.join(TABLES)}")
    spec = TABLES[table_id]
    pub_rows = _published_rows(spec)
    run_rows = _run_rows(spec, runs, pub_rows)
    rows = _order(pub_rows, run_rows, published)
    if not published:
        for row in rows:
            row.deltas = {}
    _mark_best(rows, spec.columns)
    return Table(spec, rows, _caption(spec, rows, published, ci), _footnote(rows), ci)
