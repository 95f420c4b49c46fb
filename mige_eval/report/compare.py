"""``mige-eval compare``: runs of one benchmark set against the first, sample by sample.

Two means from different runs say little on their own: the samples differ in difficulty far more
than the models do, and both runs were scored on the same samples. A paired comparison removes that
shared part. For the baseline A and each other run B, and each metric, on the samples both runs
generated and where the metric has a value in both:

- the mean difference B - A and its 95 % paired bootstrap interval, resampling the benchmark's
  units (DreamBench subjects, MagicBrush sessions, else samples) as ``summary.json`` does;
- the p-value of a two-sided paired sign-flip test that flips each unit's differences together
  (exact enumeration up to :data:`~mige_eval.stats.EXACT_MAX_UNITS` units, else
  :data:`~mige_eval.stats.PERMUTATIONS` seeded random flips);
- the win rate: the share of those samples where B is better (higher; lower for L1 and L2), with
  ties and losses counted apart.

The runs may differ in anything that made their images (model, adapter options, seed, generation
presets): that is what is compared. They must share the benchmark, its data source and, metric by
metric, the scoring configuration's *settings* (backbones, presets, benchmark options); otherwise
the command refuses, saying what differs. Scores are read from ``samples.jsonl``, never recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mige_eval import stats
from mige_eval.metrics import metric_info
from mige_eval.report.comparability import describe
from mige_eval.report.latex import comment, escape
from mige_eval.report.runs import RunInfo, find_runs, read_records
from mige_eval.report.scorings import choose
from mige_eval.report.tables import BENCH_LABELS, UNIT_WORDS

FORMATS = ("markdown", "latex", "json")


@dataclass(frozen=True)
class MetricResult:
    metric: str
    key: str  # the scoring configuration both runs' values come from
    higher_is_better: bool
    n: int  # samples with a value in both runs
    units: int  # resampling units among them
    mean_baseline: float
    mean_other: float
    difference: float  # mean of other - baseline
    ci: list[float] | None
    test: stats.SignFlip
    wins: int
    ties: int
    losses: int

    @property
    def win_rate(self) -> float:
        return self.wins / self.n

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "scoring": self.key,
            "higher_is_better": self.higher_is_better,
            "n": self.n,
            "units": self.units,
            "mean_baseline": self.mean_baseline,
            "mean_run": self.mean_other,
            "difference": self.difference,
            "ci": self.ci,
            **self.test.to_json(),
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "win_rate": self.win_rate,
        }


@dataclass
class Pair:
    """The baseline against one other run."""

    other: RunInfo
    shared: int  # samples both runs generated
    generated: tuple[int, int]  # samples each run generated (baseline, other)
    results: list[MetricResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    baseline: RunInfo
    pairs: list[Pair]
    unit: str  # the resampling unit's name ("subject", "session", "sample")
    notes: list[str]

    @property
    def bench(self) -> str:
        return self.baseline.bench


def _load(paths: Sequence[Path], scoring: Sequence[str]) -> tuple[list[RunInfo], list[str]]:
    runs, notes = find_runs(paths)
    given = [Path(p).resolve() for p in paths]
    if [r.path.resolve() for r in runs] != given:
        problems = "; ".join(notes) or "give each run directory itself, not a folder holding several"
        raise ValueError(f"compare takes run directories with a summary.json, the baseline first: {problems}")
    if len(runs) < 2:
        raise ValueError("compare needs at least two run directories: the baseline, then the runs to compare with it")
    return runs, [*notes, *choose(runs, scoring)]


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}"))
    return out


def _settings(run: RunInfo, key: str) -> dict[str, Any] | None:
    return ((run.run.get("scorings") or {}).get(key) or {}).get("settings")


def _check_runs(runs: Sequence[RunInfo]) -> None:
    base = runs[0]
    benches = {r.label: r.bench for r in runs}
    if len(set(benches.values())) > 1:
        raise ValueError("compare needs runs of one benchmark: " + ", ".join(f"{k} is {v}" for k, v in benches.items()))
    source = ((base.run.get("generation") or {}).get("bench") or {}).get("source")
    for run in runs[1:]:
        other = ((run.run.get("generation") or {}).get("bench") or {}).get("source")
        if source and other and other != source:
            raise ValueError(
                f"{run.label} and {base.label} read different data for {base.bench} "
                f"({json.dumps(other, sort_keys=True)} vs {json.dumps(source, sort_keys=True)}); "
                "their samples cannot be paired"
            )


def _metrics(runs: Sequence[RunInfo], wanted: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The metrics to compare, and notes on those only some runs have. Refuses a requested metric a run
    lacks, and any metric whose scoring settings differ between the runs."""
    having = [set(r.keys()) for r in runs]
    if wanted:
        for run, names in zip(runs, having):
            absent = [m for m in wanted if m not in names]
            if absent:
                raise ValueError(
                    f"{run.label} has no values of {', '.join(absent)}; it has {', '.join(sorted(names)) or 'none'}"
                )
        metrics, notes = list(wanted), []
    else:
        metrics = [m for m in runs[0].keys() if all(m in names for names in having)]
        notes = [
            f"{m}: not in every run, not compared"
            for m in sorted({m for names in having for m in names})
            if m not in metrics
        ]
    problems = []
    for metric in metrics:
        base = _settings(runs[0], runs[0].keys()[metric])
        for run in runs:
            mine = _settings(run, run.keys()[metric])
            if mine is None:
                problems.append(
                    f"{metric}: {run.label} records no settings for {run.keys()[metric]} (run.json "
                    "missing or written by an older mige-eval), so they cannot be checked"
                )
            elif base is not None and mine != base:
                a, b = _flat(base), _flat(mine)
                diffs = [
                    f"{k}: {a.get(k)!r} in {runs[0].label}, {b.get(k)!r} in {run.label}"
                    for k in dict.fromkeys([*a, *b])
                    if a.get(k) != b.get(k)
                ]
                problems.append(f"{metric} was scored under other settings ({'; '.join(diffs)})")
    if problems:
        raise ValueError(
            "refusing to compare numbers scored differently: " + " | ".join(problems) + ". Score the "
            "runs under one configuration (same backbones and presets), choose a configuration both "
            "runs have with --scoring KEY, or leave the metric out with --metrics."
        )
    if not metrics:
        raise ValueError("the runs have no metric in common to compare")
    return metrics, notes


def _values(run: RunInfo) -> dict[str, dict[str, Any]]:
    """The samples the run generated (an image, no generation failure), by id."""
    records, problems = read_records(run.path)
    if problems:
        raise ValueError(f"{run.label}: {problems[0]}; run its `mige-eval run` command again to rewrite samples.jsonl")
    return {r["id"]: r for r in records if r.get("image")}


def _value(record: dict[str, Any], key: str) -> float | None:
    entry = (record.get("scores") or {}).get(key) or {}
    return None if entry.get("error") else entry.get("value")


def _unit(sample_id: str, a: dict[str, Any], b: dict[str, Any], labels: tuple[str, str]) -> str:
    ua, ub = a.get("cluster"), b.get("cluster")
    if ua and ub and ua != ub:
        raise ValueError(f"sample {sample_id} belongs to unit {ua!r} in {labels[0]} but {ub!r} in {labels[1]}")
    return ua or ub or sample_id


def _pair(baseline: RunInfo, base: dict[str, dict], other: RunInfo, metrics: Sequence[str]) -> Pair:
    mine = _values(other)
    shared = [i for i in base if i in mine]
    pair = Pair(other, len(shared), (len(base), len(mine)))
    for metric in metrics:
        ka, kb = baseline.keys()[metric], other.keys()[metric]
        rows = [
            (_value(base[i], ka), _value(mine[i], kb), _unit(i, base[i], mine[i], (baseline.label, other.label)))
            for i in shared
        ]
        rows = [r for r in rows if r[0] is not None and r[1] is not None]
        if not rows:
            pair.notes.append(f"{metric}: no shared sample has a value in both runs")
            continue
        a = [r[0] for r in rows]
        b = [r[1] for r in rows]
        units = [r[2] for r in rows]
        diffs = [y - x for x, y in zip(a, b)]
        interval = stats.mean_interval(diffs, units)
        higher = metric_info(metric).higher_is_better
        wins, ties, losses = stats.wins_ties_losses(a, b, higher_is_better=higher)
        test = stats.sign_flip_test(diffs, units)
        pair.results.append(
            MetricResult(
                metric,
                ka,
                higher,
                len(rows),
                len(set(units)),
                sum(a) / len(a),
                sum(b) / len(b),
                sum(diffs) / len(diffs),
                interval.to_json() if interval else None,
                test,
                wins,
                ties,
                losses,
            )
        )
    pair.notes += _coarse(pair.results)
    return pair


def _coarse(results: Sequence[MetricResult]) -> list[str]:
    """A note per number of units too small for the exact test to reach p < 0.05 (its floor is 2 / 2**units)."""
    by_units: dict[int, list[str]] = {}
    for r in results:
        if r.test.exact and 2 / r.test.draws > 0.05:
            by_units.setdefault(r.units, []).append(r.metric)
    return [
        f"{', '.join(metrics)}: with {units} resampling units the sign-flip test cannot give p below "
        f"{2 / 2**units:.3g}, and the interval rests on as few units"
        for units, metrics in by_units.items()
    ]


def compare_runs(
    paths: Sequence[Path], *, metrics: Sequence[str] | None = None, scoring: Sequence[str] = ()
) -> Comparison:
    """Compare the runs at ``paths`` with the first; refuses (ValueError) runs that cannot be paired."""
    runs, notes = _load(paths, scoring)
    _check_runs(runs)
    names, metric_notes = _metrics(runs, metrics)
    base = _values(runs[0])
    pairs = [_pair(runs[0], base, run, names) for run in runs[1:]]
    if not any(p.shared for p in pairs):
        raise ValueError(f"the runs share no generated sample with {runs[0].label}: nothing to compare")
    unit = (runs[0].summary.get("uncertainty") or {}).get("unit", "sample")
    return Comparison(runs[0], pairs, unit, [*notes, *metric_notes])


# --- Output ----------------------------------------------------------------------------------------------------


def fmt_p(p: float) -> str:
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _method(c: Comparison) -> str:
    units = UNIT_WORDS.get(c.unit, c.unit + "s")
    return (
        f"Differences are run minus baseline, on the samples where the metric has a value in both runs. "
        f"95% interval: percentile bootstrap of the mean difference resampling {units} "
        f"({stats.RESAMPLES:,} resamples, seed {stats.SEED}). p: two-sided paired sign-flip test flipping each "
        f"unit's differences together (every sign vector when there are at most {stats.EXACT_MAX_UNITS} "
        f"{units}, else {stats.PERMUTATIONS:,} random ones, seed {stats.SEED}, p = (1 + hits) / (1 + draws)). "
        f"Win rate: share of those samples where the run is better than the baseline (higher; lower for L1 and "
        f"L2); ties and losses are counted apart."
    )


def _who(run: RunInfo) -> str:
    generation = run.run.get("generation") or {}
    return (
        f"{run.label} (model {run.model}, seed {generation.get('seed', '?')}, adapter options "
        f"{json.dumps(generation.get('adapter_config', {}), sort_keys=True)})"
    )


def _provenance(c: Comparison) -> list[str]:
    lines = [f"baseline: {_who(c.baseline)}, {c.baseline.path.resolve()}"]
    lines += [f"run: {_who(p.other)}, {p.other.path.resolve()}" for p in c.pairs]
    keys = {r.key for p in c.pairs for r in p.results}
    for key in sorted(keys):
        lines.append(f"scoring {key}: {describe(_settings(c.baseline, key) or {})}")
    return lines


def _shared(c: Comparison, pair: Pair) -> str:
    return (
        f"{pair.shared:,} shared samples ({c.baseline.label} generated {pair.generated[0]:,}, "
        f"{pair.other.label} {pair.generated[1]:,})"
    )


def _row(r: MetricResult) -> list[str]:
    ci = f"[{r.ci[0]:+.4f}, {r.ci[1]:+.4f}]" if r.ci else "–"
    return [
        f"{r.metric} {'↑' if r.higher_is_better else '↓'}",
        f"{r.n:,}",
        f"{r.units:,}",
        f"{r.mean_baseline:.4f}",
        f"{r.mean_other:.4f}",
        f"{r.difference:+.4f}",
        ci,
        fmt_p(r.test.p_value),
        f"{r.wins} / {r.ties} / {r.losses}",
        f"{r.win_rate:.3f}",
    ]


HEADERS = [
    "metric",
    "samples",
    "units",
    "baseline",
    "run",
    "difference",
    "95% CI",
    "p",
    "better / tie / worse",
    "win rate",
]


def markdown(c: Comparison) -> str:
    bench = BENCH_LABELS.get(c.bench, c.bench)
    out = [f"## Compare on {bench}: baseline `{c.baseline.label}`", ""]
    for pair in c.pairs:
        out += [
            f"### `{pair.other.label}` against `{c.baseline.label}`: {_shared(c, pair)}",
            "",
            "| " + " | ".join(HEADERS) + " |",
            "|---|" + "---:|" * (len(HEADERS) - 1),
        ]
        out += ["| " + " | ".join(_row(r)) + " |" for r in pair.results] + [""]
        out += [f"- note: {n}" for n in pair.notes] + ([""] if pair.notes else [])
    out += [_method(c), ""]
    out += [f"- {line}" for line in _provenance(c)]
    out += [f"- note: {n}" for n in c.notes]
    return "\n".join(out) + "\n"


def latex(c: Comparison) -> str:
    bench = BENCH_LABELS.get(c.bench, c.bench)
    lines = [comment(f"mige-eval compare; needs \\usepackage{{booktabs}}. {line}") for line in _provenance(c)]
    lines += [comment(f"note: {n}") for n in c.notes]
    for pair in c.pairs:
        caption = (
            f"{pair.other.model} ({pair.other.label}) against {c.baseline.model} ({c.baseline.label}) on "
            f"{bench}, {_shared(c, pair)}. {_method(c)}"
        )
        lines += [comment(f"note: {n}") for n in pair.notes]
        lines += [
            r"\begin{table}[t]",
            r"  \centering",
            r"  \footnotesize",
            r"  \setlength{\tabcolsep}{3pt}",
            rf"  \caption{{{escape(caption)}}}",
            rf"  \begin{{tabular}}{{l{'r' * (len(HEADERS) - 1)}}}",
            r"    \toprule",
            "    " + " & ".join(escape(h) for h in HEADERS) + r" \\",
            r"    \midrule",
        ]
        lines += ["    " + " & ".join(escape(cell) for cell in _row(r)) + r" \\" for r in pair.results]
        lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_json(c: Comparison) -> str:
    data = {
        "benchmark": c.bench,
        "baseline": {"label": c.baseline.label, "model": c.baseline.model, "path": str(c.baseline.path.resolve())},
        "unit": c.unit,
        "method": {
            "interval": "percentile bootstrap of the mean difference over units",
            "level": stats.LEVEL,
            "resamples": stats.RESAMPLES,
            "seed": stats.SEED,
            "test": "two-sided paired sign-flip test over units",
            "permutations": stats.PERMUTATIONS,
            "exact_max_units": stats.EXACT_MAX_UNITS,
            "difference": "run - baseline",
        },
        "comparisons": [
            {
                "label": p.other.label,
                "model": p.other.model,
                "path": str(p.other.path.resolve()),
                "shared": p.shared,
                "generated": {"baseline": p.generated[0], "run": p.generated[1]},
                "metrics": [r.to_json() for r in p.results],
                "notes": p.notes,
            }
            for p in c.pairs
        ],
        "scorings": {r.key: _settings(c.baseline, r.key) for p in c.pairs for r in p.results},
        "notes": c.notes,
    }
    return json.dumps(data, indent=2) + "\n"


def render_comparison(
    paths: Sequence[Path],
    fmt: str = "markdown",
    *,
    metrics: Sequence[str] | None = None,
    scoring: Sequence[str] = (),
    out: Path | None = None,
) -> str:
    """The comparison as text in ``fmt``; also written to ``out`` when given."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    comparison = compare_runs(paths, metrics=metrics, scoring=scoring)
    text = {"markdown": markdown, "latex": latex, "json": to_json}[fmt](comparison)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return text
