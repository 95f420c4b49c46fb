"""``mige-eval reproduce --table 1|2|3``: run every benchmark of a paper table for each model, then report.

The one command that regenerates a table of the MIGE paper. For each benchmark of the table and each
model it calls :func:`mige_eval.runner.run` into ``<results>/runs/<bench>/<model>`` (so a second
invocation resumes finished runs and only does what is missing), skips a model whose adapter lacks
the benchmark's task, and carries on past a run that fails, each with a note. Then it writes the
table in every format to ``<results>/reports/table-<N>/``: ``table.md``, ``table.tex``,
``table.csv`` and the ``gallery/`` folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mige_eval.benchmarks.base import DataError, data_option_spelled
from mige_eval.benchmarks.open import open_benchmark
from mige_eval.metrics.base import ScoringOptions
from mige_eval.names import did_you_mean
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
    "1": ("instructpix2pix", "magicbrush", "ultraedit", "omnigen", "mige"),
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


def reproduce(
    table: str,
    models: Sequence[str] | None = None,
    data_root: Path | None = None,
    *,
    results: Path = Path("results"),
    seed: int = 0,
    limit: int | None = None,
    presets: Sequence[str] = (),
    scoring: ScoringOptions | None = None,
    bench_options: dict | None = None,
    progress: Progress = no_progress,
    log: Callable[[str], None] = print,
) -> ReproduceResult:
    """Run table ``table``'s benchmarks for each model, then write the table in every format.

    ``data_root`` holds one folder per benchmark (``DIR/emuedit``, ``DIR/dreambench``, ...); without
    it each benchmark's default location is used (``$MIGE_EVAL_DATA/<bench>`` or the user data dir).
    Every note (a skipped or failed run, a problem of the reports) goes to ``log`` once, when it happens;
    a benchmark whose data cannot be read is one note, not one per model.
    """
    if str(table) not in TABLE_BENCHES:
        raise ValueError(
            f"unknown --table {table!r}: reproduce takes one of {', '.join(TABLE_BENCHES)}."
            f"{did_you_mean(table, TABLE_BENCHES)}"
        )
    benches, report_table = TABLE_BENCHES[str(table)]
    models = list(models or DEFAULT_MODELS[str(table)])
    if not models:
        raise ValueError("--models is empty: name at least one model")
    for model in models:
        ADAPTERS.target(model)  # a misspelt name fails here, with the known names, before any run starts
    notes: list[str] = []
    run_dirs: list[Path] = []

    first_seen: dict[str, str] = {}  # error text -> where it was noted first

    def note(text: str) -> None:
        notes.append(text)
        log(text)

    def failed(where: str, exc: Exception) -> None:
        """A failed run; an error already noted for another run (a missing backbone, say) is not repeated."""
        text = f"{type(exc).__name__}: {exc}"
        if text in first_seen:
            note(f"{where}: failed: the same {type(exc).__name__} as {first_seen[text]}")
        else:
            first_seen[text] = where
            note(f"{where}: failed: {text}")

    data_roots = {b: Path(data_root) / b for b in benches} if data_root else {}
    with data_option_spelled("--data-root DIR (DIR/{bench})"):
        for bench in benches:
            for number, model in enumerate(models):
                where = f"{bench} / {model}"
                try:
                    check_tasks(open_benchmark(bench, data=data_roots.get(bench)), ADAPTERS.load(model))
                except RunError as exc:
                    note(f"{where}: skipped: {exc}")
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. an adapter whose optional packages are missing
                    failed(where, exc)
                    continue
                opts = RunOptions(
                    bench=bench,
                    model=model,
                    data=data_roots.get(bench),
                    limit=limit,
                    seed=seed,
                    presets=presets,
                    scoring=scoring or ScoringOptions(),
                    bench_options=dict(bench_options or {}),
                    results_root=Path(results) / "runs",
                )
                log(f"{where}: running")
                try:
                    result = run(opts, progress=progress, log=log)
                except DataError as exc:  # the benchmark's data, the same for every model: said once
                    rest = models[number + 1 :]
                    note(
                        f"{where}: failed: DataError: {exc}"
                        + (f" (so not run for {', '.join(rest)} either: same data)" if rest else "")
                    )
                    break
                except Exception as exc:  # noqa: BLE001 - one broken run (missing weights, ...) must not stop the table
                    failed(where, exc)
                    continue
                run_dirs.append(result.run_dir)
                if result.summary["n_failed"]:
                    note(
                        f"{where}: {result.summary['n_failed']} of {result.summary['n']} samples failed "
                        f"(see {result.run_dir / 'samples.jsonl'})"
                    )
    complete = not notes
    if not run_dirs:
        note("no run finished: the reports show the published rows only")
    folder = Path(results) / "reports" / f"table-{table}"
    outputs, report_notes = {}, []
    for fmt, name in FORMATS.items():
        rendered = render(
            run_dirs, fmt, report_table, output=folder / name, data_roots=data_roots, notes=notes, ci=True
        )
        for text in rendered.notes:
            if text not in notes and text not in report_notes:
                report_notes.append(text)
                log(text)
        outputs[fmt] = folder / name
    return ReproduceResult(run_dirs, outputs, notes + report_notes, complete)
