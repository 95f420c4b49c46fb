"""The ``mige-eval`` command line (DESIGN.md, contract)."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import typer
from rich.console import Console

from mige_eval import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmarks for multimodal instruction-based image generation and editing.")
err = Console(stderr=True)

# Options shared by run, score and reproduce.
DataOpt = typer.Option(None, "--data", help="Local copy of the benchmark in its published layout.")
OutOpt = typer.Option(None, "--out", help="Run directory (default results/runs/<bench>/<model>).")
LimitOpt = typer.Option(None, "--limit", min=1, help="Only the first N samples in benchmark order.")
MetricsOpt = typer.Option(None, "--metrics", help="Comma-separated metrics, or 'none' (default: the benchmark's).")
SeedOpt = typer.Option(0, "--seed", help="Run seed; each sample's seed derives from it and the sample id.")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
BatchOpt = typer.Option(8, "--batch-size", min=1, help="Samples per generation and scoring batch.")
ShardOpt = typer.Option(None, "--shard", help="I/N: this process takes every N-th sample from the I-th "
                                            "(default: from torchrun/accelerate/Slurm variables).")
PresetOpt = typer.Option([], "--preset", help="Metric convention option (METRICS.md §1); repeatable.")
ClipOpt = typer.Option(None, "--clip-model", help="CLIP backbone: hub id or local directory.")
DinoOpt = typer.Option(None, "--dino-model", help="DINO backbone: hub id or local directory.")
DetectorOpt = typer.Option(None, "--detector-model", help="GroundingDINO: hub id or local directory.")
SamOpt = typer.Option(None, "--sam-model", help="SAM: hub id or local directory.")
CacheDirOpt = typer.Option(None, "--cache-dir", help="Feature cache folder (default: the user cache dir).")
NoCacheOpt = typer.Option(False, "--no-cache", help="Do not read or write the feature cache.")
OverwriteOpt = typer.Option(False, "--overwrite", help="Delete a run directory made with other settings.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars; log lines only.")
EmuFilterOpt = typer.Option(None, "--emu-caption-filter", help="emuedit: none (default) or identical.")


def parse_model_args(pairs: List[str]) -> dict:
    """``key=value`` pairs; values are JSON when they parse as JSON (numbers, booleans), else strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--model-arg")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print expected errors as one readable message and exit 2, instead of a traceback."""
    from mige_eval.errors import MissingDependencyError, MissingWeightsError
    from mige_eval.metrics import UnknownMetricError
    from mige_eval.registry import UnknownNameError

    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except (UnknownNameError, UnknownMetricError, MissingWeightsError, MissingDependencyError,
            ValueError, RuntimeError, FileNotFoundError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def make_progress(quiet: bool) -> tuple[Callable, Callable[[], None]]:
    """A progress factory for the runner, and a function that stops the display."""
    if quiet:
        return (lambda label, total: (lambda n: None)), (lambda: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=err, transient=False)

    def factory(label: str, total: int):
        bar.start()
        task = bar.add_task(label, total=total)
        return lambda n: bar.advance(task, n)

    return factory, bar.stop


def _run(opts, quiet: bool) -> None:
    from mige_eval.runner import run

    factory, stop = make_progress(quiet)
    try:
        result = run(opts, progress=factory, log=lambda m: err.print(f"[yellow]{m}[/]", highlight=False))
    finally:
        stop()
    s = result.summary
    metrics = ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in s["metrics"].items())
    print(f"{result.run_dir}: {s['n']} samples, {s['n_failed']} failed; generated {result.generated}, "
          f"scored {result.scored} now" + (f"; {metrics}" if metrics else ""))
    for note in s["notes"]:
        print(f"  note: {note}")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _scoring(device, batch_size, clip_model, dino_model, detector_model, sam_model, cache_dir, no_cache):
    from mige_eval.metrics.base import ScoringOptions

    return ScoringOptions(clip_model=clip_model, dino_model=dino_model, detector_model=detector_model,
                          sam_model=sam_model, device=device, batch_size=batch_size,
                          cache_dir=Path(cache_dir) if cache_dir else None, use_cache=not no_cache)


def _bench_options(emu_caption_filter: Optional[str]) -> dict:
    return {"emu_caption_filter": emu_caption_filter} if emu_caption_filter else {}


@app.command()
def run(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    model: str = typer.Option(..., "--model", help="Adapter name, path/to/file.py:Class or package.module:Class."),
    model_arg: List[str] = typer.Option([], "--model-arg", help="Adapter option key=value; repeatable."),
    data: Optional[Path] = DataOpt, out: Optional[Path] = OutOpt, limit: Optional[int] = LimitOpt,
    metrics: Optional[str] = MetricsOpt, seed: int = SeedOpt, device: str = DeviceOpt, batch_size: int = BatchOpt,
    shard: Optional[str] = ShardOpt, preset: List[str] = PresetOpt, clip_model: Optional[str] = ClipOpt,
    dino_model: Optional[str] = DinoOpt, detector_model: Optional[str] = DetectorOpt, sam_model: Optional[str] = SamOpt,
    cache_dir: Optional[Path] = CacheDirOpt, no_cache: bool = NoCacheOpt, overwrite: bool = OverwriteOpt,
    quiet: bool = QuietOpt, emu_caption_filter: Optional[str] = EmuFilterOpt,
) -> None:
    """Generate with a model on a benchmark, then score (resumable)."""
    with user_errors():
        from mige_eval.runner import RunOptions

        opts = RunOptions(
            bench=bench, model=model, data=data, out=out, limit=limit, metrics=metrics, seed=seed, shard=shard,
            presets=preset, model_args=parse_model_args(model_arg), bench_options=_bench_options(emu_caption_filter),
            scoring=_scoring(device, batch_size, clip_model, dino_model, detector_model, sam_model, cache_dir, no_cache),
            overwrite=overwrite,
        )
        _run(opts, quiet)


@app.command()
def score(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    images: Path = typer.Option(..., "--images", help="Folder of <sample id>.png/.jpg/.webp generated elsewhere."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name for the run directory and reports."),
    data: Optional[Path] = DataOpt, out: Optional[Path] = OutOpt, limit: Optional[int] = LimitOpt,
    metrics: Optional[str] = MetricsOpt, seed: int = SeedOpt, device: str = DeviceOpt, batch_size: int = BatchOpt,
    shard: Optional[str] = ShardOpt, preset: List[str] = PresetOpt, clip_model: Optional[str] = ClipOpt,
    dino_model: Optional[str] = DinoOpt, detector_model: Optional[str] = DetectorOpt, sam_model: Optional[str] = SamOpt,
    cache_dir: Optional[Path] = CacheDirOpt, no_cache: bool = NoCacheOpt, overwrite: bool = OverwriteOpt,
    quiet: bool = QuietOpt, emu_caption_filter: Optional[str] = EmuFilterOpt,
) -> None:
    """Score images that already exist (a folder of a model's outputs)."""
    with user_errors():
        from mige_eval.runner import RunOptions
        from mige_eval.store import safe_id

        label = safe_id(name or f"folder-{images.resolve().name}")
        opts = RunOptions(
            bench=bench, model="folder", data=data, limit=limit, metrics=metrics, seed=seed, shard=shard,
            presets=preset, model_args={"images": str(images)}, bench_options=_bench_options(emu_caption_filter),
            scoring=_scoring(device, batch_size, clip_model, dino_model, detector_model, sam_model, cache_dir, no_cache),
            overwrite=overwrite, out=out,
        )
        if out is None:
            opts.out = opts.results_root / _bench_dir_name(bench) / label
        _run(opts, quiet)


def _bench_dir_name(bench: str) -> str:
    from mige_eval.store import safe_id

    return safe_id(Path(bench.split(":")[-1]).stem if (":" in bench or bench.endswith((".yaml", ".yml"))) else bench)


@app.command("list")
def list_(what: Optional[str] = typer.Argument(None, help="benches, models or metrics (default: all).")) -> None:
    """List the known benchmarks, models (adapters) and metrics; imports no model code."""
    from mige_eval.metrics import METRICS
    from mige_eval.registry import ADAPTERS, BENCHMARKS

    groups = {"benches": BENCHMARKS.names, "models": ADAPTERS.names, "metrics": lambda: list(METRICS)}
    if what is not None and what not in groups:
        err.print(f"[bold red]error:[/] unknown list {what!r}: use benches, models or metrics")
        raise typer.Exit(2)
    for key in [what] if what else list(groups):
        print(f"{key}:")
        for item in groups[key]():
            print(f"  {item}")


@app.command()
def report(
    runs: List[Path] = typer.Argument(None, help="Run directories, or folders holding them (default results/runs)."),
    fmt: str = typer.Option("markdown", "--format", help="markdown (more formats: see the report docs)."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write to this file instead of stdout."),
) -> None:
    """Print runs as a table, from their summary.json files (never recomputes a score)."""
    with user_errors():
        from mige_eval.report.markdown import markdown_report
        from mige_eval.report.runs import find_runs

        found, notes = find_runs(runs or [Path("results/runs")])
        if fmt != "markdown":
            raise ValueError(f"unknown --format {fmt!r}: use markdown")
        text = markdown_report(found, notes)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)


def version_callback(value: bool) -> None:
    if value:
        print(f"mige-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True)) -> None:
    """mige-eval: generate → score → report."""


def main() -> None:
    app()
