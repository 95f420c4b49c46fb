"""The ``mige-eval`` command line (DESIGN.md, contract)."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Iterator, List, Optional

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


def make_progress(quiet: bool):
    """The progress display of one command (:class:`mige_eval.progress.ProgressDisplay`): a bar on a
    terminal; plain log lines at a steady interval without one (Slurm, nohup, CI) or with --quiet."""
    from mige_eval.progress import ProgressDisplay

    return ProgressDisplay(bar=not quiet and err.is_terminal, console=err)


def _log(message: str) -> None:
    err.print(message, style="yellow", highlight=False, markup=False, soft_wrap=True)


@contextlib.contextmanager
def interruptible(display, then: str = "the same command resumes") -> Iterator[None]:
    """Ctrl-C: stop the display, say how far the command got and what to do, exit with 130."""
    try:
        yield
    except KeyboardInterrupt:
        display.stop()
        err.print(f"interrupted after {display.done} samples; {then}", highlight=False, markup=False)
        raise typer.Exit(130) from None
    finally:
        display.stop()


def _run(runs, quiet: bool) -> None:
    """Run each of ``runs`` (RunOptions) in turn; the exit code is the worst of theirs."""
    from mige_eval.runner import run

    display = make_progress(quiet)
    code = 0
    with interruptible(display):
        for opts in runs:
            result = run(opts, progress=display, log=_log)
            display.stop()
            s = result.summary
            metrics = ", ".join(f"{k} {v:.4f}" if v is not None else f"{k} n/a" for k, v in s["metrics"].items())
            print(f"{result.run_dir}: {s['n']} samples, {s['n_failed']} failed; generated {result.generated}, "
                  f"scored {result.scored} now" + (f"; {metrics}" if metrics else ""))
            for note in s["notes"]:
                print(f"  note: {note}")
            code = max(code, result.exit_code)
    if code:
        raise typer.Exit(code)


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
        _run([opts], quiet)


@app.command()
def score(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    images: Path = typer.Option(..., "--images", help="The outputs made elsewhere: a folder, an Emu Edit "
                                                      "generations dataset, or a mapping file (see --layout)."),
    layout: str = typer.Option("auto", "--layout", help="How the outputs are named: auto (detect, and say which), "
                                                        "flat (<id>.png), magicbrush (the evaluation script's "
                                                        "<img_id>/<img_id>_1.png, _inde_<k>, _iter_<k> tree), mige "
                                                        "(MIGE's <idx>.jpg), emu-generations, mapping (id,path "
                                                        "CSV or JSONL)."),
    subset: Optional[str] = typer.Option(None, "--subset", help="migebench: score this subset only (add or replace), "
                                                                "e.g. a folder of MIGE's <idx>.jpg for it."),
    select: Optional[str] = typer.Option(None, "--select", help="emu-generations: score this model only (default: "
                                                                "one run per model, in <out>/<model>)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name for the run directory and reports."),
    data: Optional[Path] = DataOpt, out: Optional[Path] = OutOpt, limit: Optional[int] = LimitOpt,
    metrics: Optional[str] = MetricsOpt, seed: int = SeedOpt, device: str = DeviceOpt, batch_size: int = BatchOpt,
    shard: Optional[str] = ShardOpt, preset: List[str] = PresetOpt, clip_model: Optional[str] = ClipOpt,
    dino_model: Optional[str] = DinoOpt, detector_model: Optional[str] = DetectorOpt, sam_model: Optional[str] = SamOpt,
    cache_dir: Optional[Path] = CacheDirOpt, no_cache: bool = NoCacheOpt, overwrite: bool = OverwriteOpt,
    quiet: bool = QuietOpt, emu_caption_filter: Optional[str] = EmuFilterOpt,
) -> None:
    """Score outputs that already exist (another tool's, in its published layout); they are stored as they are."""
    with user_errors():
        from mige_eval.layouts import generation_models
        from mige_eval.runner import RunOptions
        from mige_eval.store import safe_id

        bench_name = _bench_dir_name(bench)
        if subset is not None and bench_name != "migebench":
            raise ValueError(f"--subset picks a MIGEBench subset (add or replace); {bench} has no use for it")
        images = images.expanduser()
        models = [select] if select is not None else generation_models(images, layout, bench_name)
        if len(models) > 1 and name:
            raise ValueError(f"--name names one run, but {images} holds the outputs of {len(models)} models "
                             f"({', '.join(models)}); score one with --select MODEL, or drop --name")
        bench_options = {**_bench_options(emu_caption_filter), **({"subset": subset} if subset else {})}
        runs = []
        for model in models or [None]:
            label = safe_id(name or model or f"folder-{images.resolve().name}" + (f"-{subset}" if subset else ""))
            opts = RunOptions(
                bench=bench, model="folder", data=data, limit=limit, metrics=metrics, seed=seed, shard=shard,
                presets=preset, bench_options=bench_options, overwrite=overwrite,
                model_args={"images": str(images), "layout": layout, "bench": bench_name,
                            **({"select": model} if model is not None else {})},
                scoring=_scoring(device, batch_size, clip_model, dino_model, detector_model, sam_model, cache_dir,
                                 no_cache),
            )
            if out is None:
                opts.out = opts.results_root / bench_name / label
            else:
                opts.out = out / label if len(models) > 1 else out
            runs.append(opts)
        _run(runs, quiet)


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
    fmt: str = typer.Option("markdown", "--format", help="markdown, latex, csv, or html (a gallery folder)."),
    table: Optional[str] = typer.Option(None, "--table", help="Paper table 1, 2, 3a or 3b (3: both 3a and 3b); "
                                                              "default: every table the runs belong to."),
    published: bool = typer.Option(True, "--published/--no-published", help="Show the paper's rows beside the runs."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write to this file (html: this folder), not stdout."),
) -> None:
    """The paper's tables from run directories beside the published numbers (never recomputes a score)."""
    with user_errors():
        from mige_eval.report.render import render

        display = make_progress(False)
        with interruptible(display, f"{output} was not changed; the same command writes it again"):
            result = render(runs or [Path("results/runs")], fmt, table, published, output, progress=display)
        if output is None:
            sys.stdout.write(result.text)
        else:
            print(result.text.strip() if fmt == "html" else f"wrote {output}")
        if output is not None or fmt == "csv":  # otherwise the notes are part of the text already
            for note in result.notes:
                err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def reproduce(
    table: str = typer.Option(..., "--table", help="Paper table: 1, 2 or 3 (3a and 3b)."),
    models: Optional[str] = typer.Option(None, "--models", help="Comma-separated models (default: the paper's "
                                                                "methods that have an adapter)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder with one dataset folder per "
                                                                       "benchmark: DIR/emuedit, DIR/dreambench, ..."),
    results: Path = typer.Option(Path("results"), "--results", help="Runs go to RESULTS/runs/<bench>/<model>, "
                                                                    "tables to RESULTS/reports/table-N/."),
    limit: Optional[int] = LimitOpt, seed: int = SeedOpt, device: str = DeviceOpt, batch_size: int = BatchOpt,
    preset: List[str] = PresetOpt, clip_model: Optional[str] = ClipOpt, dino_model: Optional[str] = DinoOpt,
    detector_model: Optional[str] = DetectorOpt, sam_model: Optional[str] = SamOpt,
    cache_dir: Optional[Path] = CacheDirOpt, no_cache: bool = NoCacheOpt, quiet: bool = QuietOpt,
    emu_caption_filter: Optional[str] = EmuFilterOpt,
) -> None:
    """Regenerate a paper table: run its benchmarks for each model (resumable), then write it in every format."""
    with user_errors():
        from mige_eval.reproduce import reproduce as reproduce_table

        display = make_progress(quiet)
        with interruptible(display):
            result = reproduce_table(
                table, [m.strip() for m in models.split(",") if m.strip()] if models else None, data_root,
                results=results, seed=seed, limit=limit, presets=preset,
                bench_options=_bench_options(emu_caption_filter),
                scoring=_scoring(device, batch_size, clip_model, dino_model, detector_model, sam_model, cache_dir,
                                 no_cache),
                progress=display, log=_log)
        for fmt, path in result.outputs.items():
            print(f"{fmt}: {path}")
        for note in result.notes:
            print(f"  note: {note}")
        raise typer.Exit(result.exit_code)


@app.command()
def download(
    bench: Optional[str] = typer.Option(None, "--bench", help="Fetch this benchmark's data."),
    to: Optional[Path] = typer.Option(None, "--to", help="Where to put the benchmark (default: its data folder)."),
    backbones: bool = typer.Option(False, "--backbones", help="Fetch the metric backbones into the HF cache."),
    model: List[str] = typer.Option([], "--model", help="With --backbones: these ids instead of the defaults."),
    grounding: bool = typer.Option(False, "--grounding", help="With --backbones: also GroundingDINO Swin-B and "
                                                              "SAM ViT-H for subject_dino / subject_clip_i."),
) -> None:
    """Fetch a benchmark or the metric backbones for later offline use."""
    with user_errors():
        if not bench and not backbones:
            raise ValueError("say what to fetch: --bench NAME and/or --backbones")
        if backbones:
            from mige_eval.metrics.backbones import download_backbones

            for path in download_backbones(model):
                print(f"backbone: {path}")
            if grounding:
                from mige_eval.metrics.grounding import download_grounding

                for path in download_grounding():
                    print(f"backbone: {path}")
        if bench:
            from mige_eval.benchmarks.open import open_benchmark

            print(f"{bench}: {open_benchmark(bench).download(to)}")


@app.command()
def verify(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    data: Optional[Path] = DataOpt,
    preset: List[str] = PresetOpt,
) -> None:
    """Check a local copy of a benchmark: counts, referenced files, checksums where a manifest exists."""
    with user_errors():
        from mige_eval.benchmarks.open import open_benchmark
        from mige_eval.presets import Presets

        problems = open_benchmark(bench, data=data, presets=Presets.from_names(preset)).verify()
        for problem in problems:
            print(f"problem: {problem}")
        print(f"{bench}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        if problems:
            raise typer.Exit(1)


@app.command("convert-mige")
def convert_mige(
    src: str = typer.Argument(..., help="MIGE weights: hub id (e.g. EurekaTian/MIGE) or local folder, either layout."),
    dst: Path = typer.Argument(..., help="New (or empty) folder for the converted safetensors layout."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit) of SRC."),
) -> None:
    """Check MIGE's weights strictly and write them as safetensors (no pickle at load time)."""
    with user_errors():
        from mige_model.checkpoint import convert
        from mige_model.layout import read_json

        out = convert(src, dst, revision=revision)
        record = read_json(out / "conversion.json")
        print(f"converted {src} ({record['source']['layout']} layout) → {out}")
        for part, files in record["parts"].items():
            print(f"  {part}: {', '.join(files)}")
        if record["ignored"]:
            print(f"  ignored {len(record['ignored'])} known-unused key(s), e.g. {record['ignored'][0]}")


def version_callback(value: bool) -> None:
    if value:
        print(f"mige-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True)) -> None:
    """mige-eval: generate → score → report."""


def main() -> None:
    app()
