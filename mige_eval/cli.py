"""The ``mige-eval`` command line (docs/design.md, command line: a contract)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from mige_eval import __version__

#: Commands defined outside mige_eval, imported only when they run (``--help`` and ``list`` import none of
#: them): name → (``module:function``, the one-line help that ``mige-eval --help`` shows).
EXTRA_COMMANDS: dict[str, tuple[str, str]] = {
    "convert-mige": (
        "mige_model.commands:convert_mige",
        "Check MIGE's weights strictly and write them as safetensors (no pickle at load time).",
    ),
}


def _show_flags_as_flags(command: typer.core.click.Command, ctx: typer.Context) -> None:
    """typer's help prints a ``<bool>`` type beside every flag; an empty metavar shows flags as flags."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class _ExtraCommand(typer.core.TyperCommand):
    """A command of :data:`EXTRA_COMMANDS`: listed by its one-line help, its module imported when it runs."""

    def __init__(self, name: str, target: str, summary: str):
        super().__init__(name, help=summary)
        self.target = target

    def make_context(self, info_name, args, parent=None, **extra):
        from mige_eval.registry import import_spec

        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(self.name)(import_spec(self.target, what=f"command {self.name!r}"))
        command = typer.main.get_command(single)
        if parent is not None:
            _show_flags_as_flags(command, parent)
        return command.make_context(info_name, args, parent=parent, **extra)


class _Commands(typer.core.TyperGroup):
    """``mige-eval``: the commands below and :data:`EXTRA_COMMANDS`; flags shown as flags."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*super().list_commands(ctx), *EXTRA_COMMANDS]

    def get_command(self, ctx: typer.Context, name: str):
        command = super().get_command(ctx, name)
        if command is None and name in EXTRA_COMMANDS:
            command = _ExtraCommand(name, *EXTRA_COMMANDS[name])
        if command is not None:
            _show_flags_as_flags(command, ctx)
        return command

    def get_params(self, ctx: typer.Context):
        _show_flags_as_flags(self, ctx)
        return super().get_params(ctx)


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Benchmarks for multimodal instruction-based image generation and editing.",
)
err = Console(stderr=True)


def say(label: str, message: object, style: str = "bold red") -> None:
    """``label: message`` on stderr; the message is printed as it is, never read as Rich markup."""
    err.print(Text.assemble((f"{label}:", style), " ", str(message)), soft_wrap=True, highlight=False)


def renamed(value, old_value, *, new: str, old: str):
    """The value of an option given by its current spelling ``new``, else by its old spelling ``old``
    (kept, hidden, for one release), with a deprecation note on stderr."""
    if old_value is None or old_value == []:
        return value
    if value is not None and value != []:
        raise typer.BadParameter(f"{old} is the old spelling of {new}: give {new} alone", param_hint=old)
    say("warning", f"{old} is deprecated and will be removed in the next release; use {new}", style="bold yellow")
    return old_value


# Options shared by run, score and reproduce.
DataOpt = typer.Option(None, "--data", help="Local copy of the benchmark in its published layout.")
OutOpt = typer.Option(None, "--out", help="Run directory (default results/runs/<bench>/<model>).")
LimitOpt = typer.Option(None, "--limit", min=1, help="Only the first N samples in benchmark order.")
MetricsOpt = typer.Option(None, "--metrics", help="Comma-separated metrics, or 'none' (default: the benchmark's).")
SeedOpt = typer.Option(0, "--seed", help="Run seed; each sample's seed derives from it and the sample id.")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
BatchOpt = typer.Option(8, "--batch-size", min=1, help="Samples per generation and scoring batch.")
ShardOpt = typer.Option(
    None,
    "--shard",
    help="I/N: this process takes every N-th sample from the I-th (default: from torchrun/accelerate/Slurm variables).",
)
PresetOpt = typer.Option(
    [],
    "--preset",
    help="A convention option, e.g. clip-l14, jpeg75, single-reference, "
    "multi-turn (`mige-eval list presets` shows them all); repeatable.",
)
ClipOpt = typer.Option(None, "--clip-model", help="CLIP backbone: hub id or local directory.")
DinoOpt = typer.Option(None, "--dino-model", help="DINO backbone: hub id or local directory.")
DetectorOpt = typer.Option(None, "--detector-model", help="GroundingDINO: hub id or local directory.")
SamOpt = typer.Option(None, "--sam-model", help="SAM: hub id or local directory.")
CacheDirOpt = typer.Option(
    None, "--cache-dir", help="Feature and judge-answer cache folder (default: the user cache dir)."
)
NoCacheOpt = typer.Option(False, "--no-cache", help="Do not read or write the feature and judge-answer caches.")
JudgeModelOpt = typer.Option(
    None,
    "--judge-model",
    help="Judge of the vie_* and judge_* metrics: a Qwen2.5-VL or Qwen3-VL "
    "hub id or folder (default Qwen/Qwen2.5-VL-7B-Instruct); "
    "with --judge-url, the model name to request.",
)
JudgeUrlOpt = typer.Option(
    None,
    "--judge-url",
    help="OpenAI-compatible server to judge with instead of a local model, e.g. http://127.0.0.1:8000/v1.",
)
JudgeKeyEnvOpt = typer.Option(
    None,
    "--judge-api-key-env",
    help="Environment variable holding the judge server's API key (default MIGE_EVAL_JUDGE_API_KEY).",
)
JudgeConcurrencyOpt = typer.Option(
    None, "--judge-concurrency", min=1, help="Judge requests in flight at once (default 8)."
)
JudgeTimeoutOpt = typer.Option(
    None, "--judge-timeout", min=0.001, help="Seconds allowed per judge request attempt (default 120)."
)
JudgeRetriesOpt = typer.Option(
    None,
    "--judge-retries",
    min=0,
    help="Retries after a timeout, lost connection or HTTP 408/429/5xx, with exponential backoff (default 4).",
)
JudgeMaxTokensOpt = typer.Option(
    None, "--judge-max-tokens", min=1, help="At most this many new tokens per judge answer (default 512)."
)
JudgeDtypeOpt = typer.Option(
    None,
    "--judge-dtype",
    help="Local judge precision: auto (default: the checkpoint's half "
    "precision on CUDA, fp32 on the CPU), bf16, fp16 or fp32.",
)
OverwriteOpt = typer.Option(False, "--overwrite", help="Delete a run directory made with other settings.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars; log lines only.")
EmuFilterOpt = typer.Option(
    None,
    "--emu-caption-filter",
    help="emuedit rows whose two captions are equal: text (default: no clip_t/clip_dir there, the MIGE "
    "authors' rule), none (count them everywhere) or identical (count them nowhere).",
)


def parse_model_args(pairs: list[str]) -> dict:
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
    except (
        UnknownNameError,
        UnknownMetricError,
        MissingWeightsError,
        MissingDependencyError,
        ValueError,
        RuntimeError,
        FileNotFoundError,
    ) as exc:
        say("error", exc)
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
            print(
                f"{result.run_dir}: {s['n']} samples, {s['n_failed']} failed; generated {result.generated}, "
                f"scored {result.scored} now" + (f"; {metrics}" if metrics else "")
            )
            for note in s["notes"]:
                print(f"  note: {note}")
            code = max(code, result.exit_code)
    if code:
        raise typer.Exit(code)


#: The scoring options a command takes, by parameter name (``--judge-*`` ones left at None keep their defaults).
SCORING_OPTIONS = (
    "device",
    "batch_size",
    "clip_model",
    "dino_model",
    "detector_model",
    "sam_model",
    "cache_dir",
    "no_cache",
    "judge_model",
    "judge_url",
    "judge_api_key_env",
    "judge_concurrency",
    "judge_timeout",
    "judge_retries",
    "judge_dtype",
    "judge_max_tokens",
)


def _scoring(given: dict):
    """The :class:`ScoringOptions` from a command's parameters (its ``locals()``)."""
    from mige_eval.metrics.base import ScoringOptions

    values = {name: given[name] for name in SCORING_OPTIONS}
    cache_dir, no_cache = values.pop("cache_dir"), values.pop("no_cache")
    judge = {k: values.pop(k) for k in list(values) if k.startswith("judge_")}
    return ScoringOptions(
        **values,
        cache_dir=Path(cache_dir) if cache_dir else None,
        use_cache=not no_cache,
        **{key: value for key, value in judge.items() if value is not None},
    )


def _bench_options(emu_caption_filter: str | None) -> dict:
    return {"emu_caption_filter": emu_caption_filter} if emu_caption_filter else {}


@app.command()
def run(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    model: str = typer.Option(..., "--model", help="Adapter name, path/to/file.py:Class or package.module:Class."),
    model_arg: list[str] = typer.Option([], "--model-arg", help="Adapter option key=value; repeatable."),
    data: Path | None = DataOpt,
    out: Path | None = OutOpt,
    limit: int | None = LimitOpt,
    metrics: str | None = MetricsOpt,
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    batch_size: int = BatchOpt,
    shard: str | None = ShardOpt,
    preset: list[str] = PresetOpt,
    clip_model: str | None = ClipOpt,
    dino_model: str | None = DinoOpt,
    detector_model: str | None = DetectorOpt,
    sam_model: str | None = SamOpt,
    cache_dir: Path | None = CacheDirOpt,
    no_cache: bool = NoCacheOpt,
    overwrite: bool = OverwriteOpt,
    quiet: bool = QuietOpt,
    emu_caption_filter: str | None = EmuFilterOpt,
    judge_model: str | None = JudgeModelOpt,
    judge_url: str | None = JudgeUrlOpt,
    judge_api_key_env: str | None = JudgeKeyEnvOpt,
    judge_concurrency: int | None = JudgeConcurrencyOpt,
    judge_timeout: float | None = JudgeTimeoutOpt,
    judge_retries: int | None = JudgeRetriesOpt,
    judge_dtype: str | None = JudgeDtypeOpt,
    judge_max_tokens: int | None = JudgeMaxTokensOpt,
) -> None:
    """Generate with a model on a benchmark, then score (resumable)."""
    given = dict(locals())  # the scoring options, for _scoring
    with user_errors():
        from mige_eval.runner import RunOptions

        opts = RunOptions(
            bench=bench,
            model=model,
            data=data,
            out=out,
            limit=limit,
            metrics=metrics,
            seed=seed,
            shard=shard,
            presets=preset,
            model_args=parse_model_args(model_arg),
            bench_options=_bench_options(emu_caption_filter),
            scoring=_scoring(given),
            overwrite=overwrite,
        )
        _run([opts], quiet)


@app.command()
def score(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    images: Path = typer.Option(
        ...,
        "--images",
        help="The outputs made elsewhere: a folder, an Emu Edit generations dataset, or a mapping file (see --layout).",
    ),
    layout: str = typer.Option(
        "auto",
        "--layout",
        help="How the outputs are named: auto (detect, and say which), "
        "flat (<id>.png), magicbrush (the evaluation script's "
        "<img_id>/<img_id>_1.png, _inde_<k>, _iter_<k> tree), mige "
        "(MIGE's <idx>.jpg), emu-generations, mapping (id,path "
        "CSV or JSONL).",
    ),
    subset: str | None = typer.Option(
        None,
        "--subset",
        help="migebench: score this subset only (add or replace), e.g. a folder of MIGE's <idx>.jpg for it.",
    ),
    select: str | None = typer.Option(
        None, "--select", help="emu-generations: score this model only (default: one run per model, in <out>/<model>)."
    ),
    name: str | None = typer.Option(None, "--name", help="Model name for the run directory and reports."),
    data: Path | None = DataOpt,
    out: Path | None = OutOpt,
    limit: int | None = LimitOpt,
    metrics: str | None = MetricsOpt,
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    batch_size: int = BatchOpt,
    shard: str | None = ShardOpt,
    preset: list[str] = PresetOpt,
    clip_model: str | None = ClipOpt,
    dino_model: str | None = DinoOpt,
    detector_model: str | None = DetectorOpt,
    sam_model: str | None = SamOpt,
    cache_dir: Path | None = CacheDirOpt,
    no_cache: bool = NoCacheOpt,
    overwrite: bool = OverwriteOpt,
    quiet: bool = QuietOpt,
    emu_caption_filter: str | None = EmuFilterOpt,
    judge_model: str | None = JudgeModelOpt,
    judge_url: str | None = JudgeUrlOpt,
    judge_api_key_env: str | None = JudgeKeyEnvOpt,
    judge_concurrency: int | None = JudgeConcurrencyOpt,
    judge_timeout: float | None = JudgeTimeoutOpt,
    judge_retries: int | None = JudgeRetriesOpt,
    judge_dtype: str | None = JudgeDtypeOpt,
    judge_max_tokens: int | None = JudgeMaxTokensOpt,
) -> None:
    """Score outputs that already exist (another tool's, in its published layout); they are stored as they are."""
    given = dict(locals())  # the scoring options, for _scoring
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
            raise ValueError(
                f"--name names one run, but {images} holds the outputs of {len(models)} models "
                f"({', '.join(models)}); score one with --select MODEL, or drop --name"
            )
        bench_options = {**_bench_options(emu_caption_filter), **({"subset": subset} if subset else {})}
        runs = []
        for model in models or [None]:
            label = safe_id(name or model or f"folder-{images.resolve().name}" + (f"-{subset}" if subset else ""))
            opts = RunOptions(
                bench=bench,
                model="folder",
                data=data,
                limit=limit,
                metrics=metrics,
                seed=seed,
                shard=shard,
                presets=preset,
                bench_options=bench_options,
                overwrite=overwrite,
                model_args={
                    "images": str(images),
                    "layout": layout,
                    "bench": bench_name,
                    **({"select": model} if model is not None else {}),
                },
                scoring=_scoring(given),
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
def list_(what: str | None = typer.Argument(None, help="benches, models, metrics or presets (default: all).")) -> None:
    """List the benchmarks and models (what each is, its tasks and licence), the metrics and the presets."""
    with user_errors():
        from mige_eval import catalog
        from mige_eval.names import did_you_mean

        if what is not None and what not in catalog.GROUPS:
            raise ValueError(
                f"unknown list {what!r}: use {', '.join(catalog.GROUPS)}.{did_you_mean(what, catalog.GROUPS)}"
            )
        sys.stdout.write(catalog.render([what] if what else list(catalog.GROUPS)))


@app.command()
def report(
    runs: list[Path] = typer.Argument(None, help="Run directories, or folders holding them (default results/runs)."),
    fmt: str = typer.Option("markdown", "--format", help="markdown, latex, csv, or html (a gallery folder)."),
    table: str | None = typer.Option(
        None, "--table", help="Paper table 1, 2, 3a or 3b (3: both 3a and 3b); default: every table the runs belong to."
    ),
    published: bool = typer.Option(True, "--published/--no-published", help="Show the paper's rows beside the runs."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file (html: this folder), not stdout."),
    output: Path | None = typer.Option(None, "--output", hidden=True, help="Old spelling of --out."),
    ci: bool = typer.Option(False, "--ci", help="Show each run value's 95% bootstrap confidence interval."),
    scoring: list[str] = typer.Option(
        [],
        "--scoring",
        help="Show this scoring configuration (a key such as "
        "clip_i@0123456789) instead of its metric's current one; "
        "repeatable.",
    ),
) -> None:
    """The paper's tables from run directories beside the published numbers (never recomputes a score)."""
    with user_errors():
        from mige_eval.report.render import render

        output = renamed(out, output, new="--out", old="--output")
        display = make_progress(False)
        with interruptible(display, f"{output} was not changed; the same command writes it again"):
            result = render(
                runs or [Path("results/runs")], fmt, table, published, output, ci=ci, scoring=scoring, progress=display
            )
        if output is None:
            sys.stdout.write(result.text)
        else:
            print(result.text.strip() if fmt == "html" else f"wrote {output}")
        if output is not None or fmt == "csv":  # otherwise the notes are part of the text already
            for note in result.notes:
                say("note", note, style="")


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Run directories of one benchmark; the first is the baseline."),
    fmt: str = typer.Option("markdown", "--format", help="markdown, latex or json."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file, not stdout."),
    metrics: str | None = typer.Option(
        None, "--metrics", help="Comma-separated metrics (default: every metric all runs have)."
    ),
    scoring: list[str] = typer.Option(
        [],
        "--scoring",
        help="Compare this scoring configuration (a key such as "
        "clip_i@0123456789) instead of its metric's current one; "
        "repeatable.",
    ),
) -> None:
    """Paired comparison with the first run: mean difference, its bootstrap CI, sign-flip p-value, win rate."""
    with user_errors():
        from mige_eval.report.compare import render_comparison

        names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        text = render_comparison(runs, fmt, metrics=names, scoring=scoring, out=out)
        if out is None:
            sys.stdout.write(text)
        else:
            print(f"wrote {out}")


@app.command()
def reproduce(
    table: str = typer.Option(..., "--table", help="Paper table: 1, 2 or 3 (3a and 3b)."),
    models: str | None = typer.Option(
        None, "--models", help="Comma-separated models (default: the paper's methods that have an adapter)."
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Folder with one dataset folder per benchmark: DIR/emuedit, DIR/dreambench, ..."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Runs go to OUT/runs/<bench>/<model>, tables to OUT/reports/table-N/ (default: results)."
    ),
    results: Path | None = typer.Option(None, "--results", hidden=True, help="Old spelling of --out."),
    limit: int | None = LimitOpt,
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    batch_size: int = BatchOpt,
    preset: list[str] = PresetOpt,
    clip_model: str | None = ClipOpt,
    dino_model: str | None = DinoOpt,
    detector_model: str | None = DetectorOpt,
    sam_model: str | None = SamOpt,
    cache_dir: Path | None = CacheDirOpt,
    no_cache: bool = NoCacheOpt,
    quiet: bool = QuietOpt,
    emu_caption_filter: str | None = EmuFilterOpt,
    judge_model: str | None = JudgeModelOpt,
    judge_url: str | None = JudgeUrlOpt,
    judge_api_key_env: str | None = JudgeKeyEnvOpt,
    judge_concurrency: int | None = JudgeConcurrencyOpt,
    judge_timeout: float | None = JudgeTimeoutOpt,
    judge_retries: int | None = JudgeRetriesOpt,
    judge_dtype: str | None = JudgeDtypeOpt,
    judge_max_tokens: int | None = JudgeMaxTokensOpt,
) -> None:
    """Regenerate a paper table: run its benchmarks for each model (resumable), then write it in every format."""
    given = dict(locals())  # the scoring options, for _scoring
    with user_errors():
        from mige_eval.reproduce import reproduce as reproduce_table

        results = renamed(out, results, new="--out", old="--results") or Path("results")
        display = make_progress(quiet)
        with interruptible(display):
            result = reproduce_table(
                table,
                [m.strip() for m in models.split(",") if m.strip()] if models else None,
                data_root,
                results=results,
                seed=seed,
                limit=limit,
                presets=preset,
                bench_options=_bench_options(emu_caption_filter),
                scoring=_scoring(given),
                progress=display,
                log=_log,
            )
        for fmt, path in result.outputs.items():
            print(f"{fmt}: {path}")
        raise typer.Exit(result.exit_code)  # every note was logged once, as it happened


@app.command()
def download(
    bench: str | None = typer.Option(None, "--bench", help="Fetch this benchmark's data."),
    out: Path | None = typer.Option(None, "--out", help="Where to put the benchmark (default: its data folder)."),
    to: Path | None = typer.Option(None, "--to", hidden=True, help="Old spelling of --out."),
    backbones: bool = typer.Option(False, "--backbones", help="Fetch the metric backbones into the HF cache."),
    backbone: list[str] = typer.Option(
        [], "--backbone", help="With --backbones: this hub id (id@revision) instead of the defaults; repeatable."
    ),
    model: list[str] = typer.Option([], "--model", hidden=True, help="Old spelling of --backbone."),
    grounding: bool = typer.Option(
        False,
        "--grounding",
        help="With --backbones: also GroundingDINO Swin-B and SAM ViT-H for subject_dino / subject_clip_i.",
    ),
) -> None:
    """Fetch a benchmark or the metric backbones for later offline use."""
    with user_errors():
        out = renamed(out, to, new="--out", old="--to")
        backbone = renamed(backbone, model, new="--backbone", old="--model")
        if not bench and not backbones:
            raise ValueError("say what to fetch: --bench NAME and/or --backbones")
        if backbones:
            from mige_eval.metrics.backbones import download_backbones

            for path in download_backbones(backbone):
                print(f"backbone: {path}")
            if grounding:
                from mige_eval.metrics.grounding import download_grounding

                for path in download_grounding():
                    print(f"backbone: {path}")
        if bench:
            from mige_eval.benchmarks.open import open_benchmark

            print(f"{bench}: {open_benchmark(bench).download(out)}")


@app.command()
def verify(
    bench: str = typer.Option(..., "--bench", help="Benchmark name, card file or module:Class."),
    data: Path | None = DataOpt,
    preset: list[str] = PresetOpt,
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


def version_callback(value: bool) -> None:
    if value:
        print(f"mige-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """mige-eval: generate → score → report."""


def main() -> None:
    app()
