"""``mige-eval reproduce --table 1|2|3``: run every benchmark of a paper table for each model, then report.

The one command that regenerates a table of the MIGE paper. For each benchmark of the table and each
model it calls :func:`mige_eval.runner.run` into ``<results>/runs/<bench>/<model>`` (so a second
invocation resumes finished runs and only does what is missing), skips a model whose adapter lacks
the benchmark's task, and carries on past a run that fails, each with a note. Then it writes the
table in every format to ``<results>/reports/table-<N>/``: ``table.md``, ``table.tex``,
``table.csv`` and the ``gallery/`` folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from mige_eval.benchmarks.open import open_benchmark
from mige_eval.metrics.base import ScoringOptions
from mige_eval.registry import ADAPTERS
from mige_eval.report.render import render
from mige_eval.runner import Progress, RunError, RunOptions, check_tasks, no_progress, run

#: Paper table -> (its benchmarks, the report tables they fill).
TABLE_BENCHES: dict[str, tuple[tuple[str, ...], str]] = {
    "1": (("emuedit", "magicbrush"), "1"),
    "2": (("dreambench",), "2"),
    "3": (("migebench",), "3"),
}
#: The paper's methods that mige-eval ships an adapter for, per table (``copy-source`` is "I-O sim").
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    "1": ("instructpix2pix", "magicbrush", "omnigen", "mige"),
    "2": ("blip-diffusion", "omnigen", "mige"),
    "3": ("copy-source", "paint-by-example", "omnigen", "mige"),
}
FORMATS = {"markdown": "table.md", "latex": "table.tex", "csv": "table.csv", "html": "gallery"}


@dataclass
class ReproduceResult:
    run_dirs: list[Path]
    outputs: dict[str, Path]  # format -> file or folder written
    notes: list[str] = field(default_factory=list)
    complete: bool = True  # False when a run was skipped or failed, or a sample failed

    @property
    def exit_code(self) -> int:
        return 0 if self.complete else 1


def reproduce(table: str, models: Sequence[str] | None = None, data_root: Path | None = None, *,
              results: Path = Path("results"), seed: int = 0, limit: int | None = None, presets: Sequence[str] = (),
              scoring: ScoringOptions | None = None, bench_options: dict | None = None,
              progress: Progress = no_progress, log: Callable[[str], None] = print) -> ReproduceResult:
    """Run table ``table``'s benchmarks for each model, then write the table in every format.

    ``data_root`` holds one folder per benchmark (``DIR/emuedit``, ``DIR/dreambench``, ...); without
    it each benchmark's default location is used (``$MIGE_EVAL_DATA/<bench>`` or the user data dir).
    """
    if str(table) not in TABLE_BENCHES:
        raise ValueError(f"unknown --table {table!r}: reproduce takes one of {', '.join(TABLE_BENCHES)}")
    benches, report_table = TABLE_BENCHES[str(table)]
    models = list(models or DEFAULT_MODELS[str(table)])
    if not models:
        raise ValueError("--models is empty: name at least one model")
    for model in models:
        ADAPTERS.target(model)  # a misspelt name fails here, with the known names, before any run starts
    notes: list[str] = []
    run_dirs: list[Path] = []

    def note(text: str) -> None:
        notes.append(text)
        log(text)

    data_roots = {b: Path(data_root) / b for b in benches} if data_root else {}
    for bench in benches:
        for model in models:
            where = f"{bench} / {model}"
            try:
                check_tasks(open_benchmark(bench, data=data_roots.get(bench)), ADAPTERS.load(model))
            except RunError as exc:
                note(f"{where}: skipped: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. an adapter whose optional packages are missing
                note(f"{where}: failed: {type(exc).__name__}: {exc}")
                continue
            opts = RunOptions(bench=bench, model=model, data=data_roots.get(bench), limit=limit, seed=seed,
                              presets=presets, scoring=scoring or ScoringOptions(),
                              bench_options=dict(bench_options or {}), results_root=Path(results) / "runs")
            log(f"{where}: running")
            try:
                result = run(opts, progress=progress, log=log)
            except Exception as exc:  # noqa: BLE001 - one broken run (missing weights, ...) must not stop the table
                note(f"{where}: failed: {type(exc).__name__}: {exc}")
                continue
            run_dirs.append(result.run_dir)
            if result.summary["n_failed"]:
                note(f"{where}: {result.summary['n_failed']} of {result.summary['n']} samples failed "
                     f"(see {result.run_dir / 'samples.jsonl'})")
    complete = not notes
    if not run_dirs:
        note("no run finished: the reports show the published rows only")
    folder = Path(results) / "reports" / f"table-{table}"
    outputs, report_notes = {}, []
    for fmt, name in FORMATS.items():
        rendered = render(run_dirs, fmt, report_table, output=folder / name, data_roots=data_roots, notes=notes)
        report_notes += [n for n in rendered.notes if n not in notes and n not in report_notes]
        outputs[fmt] = folder / name
    return ReproduceResult(run_dirs, outputs, notes + report_notes, complete)
