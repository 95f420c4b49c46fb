"""The generate and score stages over one benchmark, resumable, into one run directory.

``run`` (``mige-eval run`` and ``mige-eval score``) walks this process's shard of the benchmark in
batches. For each sample it generates the image unless the record says it exists (a model's
output is stored as ``images/<id>.png``; outputs made elsewhere keep their format and bytes), scores it with the
requested metrics unless the record holds values under their scoring configurations
(:mod:`mige_eval.scoring`), and appends one event per sample to the shard's journal. At the end it
merges every journal into ``samples.jsonl`` and writes ``summary.json``.

Only what decides the images (benchmark, adapter and its config, seed, generation presets) may refuse
a run directory; scoring an existing run with other backbones or presets adds values beside the old
ones. Every check runs before the first write, so a command that fails before producing an image or a
score leaves the directory as it was, and ``run.json`` (:mod:`mige_eval.runrecord`) gains a history
entry only for a command that changed the run. A second identical invocation rewrites nothing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mige_eval import environment, records, runrecord
from mige_eval.benchmarks.base import Benchmark
from mige_eval.benchmarks.open import open_benchmark
from mige_eval.errors import FATAL_ERRORS, RunError
from mige_eval.images import EncodedImage, ImageMemo, check_output, load_path
from mige_eval.metrics import parse_metric_names
from mige_eval.metrics.base import ScoringContext, ScoringOptions
from mige_eval.names import did_you_mean
from mige_eval.presets import Presets
from mige_eval.registry import ADAPTERS
from mige_eval.scoring import Scorer
from mige_eval.sharding import resolve_shard, sample_seed
from mige_eval.store import RunStore, safe_id
from mige_eval.summary import summarize
from mige_eval.types import Adapter, BrokenSample, Request, Sample

#: What the last merge saw (journal sizes, current scoring keys): equal state, nothing to rewrite.
MERGE_STATE = ".merged.json"

__all__ = ["RunError", "RunOptions", "RunResult", "run", "merge", "build_adapter", "check_tasks"]


@dataclass
class RunOptions:
    bench: str
    model: str
    data: Path | None = None
    out: Path | None = None
    limit: int | None = None
    metrics: str | None = None
    seed: int = 0
    shard: str | None = None
    presets: Sequence[str] = ()
    model_args: dict[str, Any] = field(default_factory=dict)
    bench_options: dict[str, Any] = field(default_factory=dict)
    scoring: ScoringOptions = field(default_factory=ScoringOptions)
    overwrite: bool = False
    results_root: Path = Path("results/runs")


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    generated: int
    scored: int
    failed_here: int

    @property
    def exit_code(self) -> int:
        return 1 if self.summary["n_failed"] else 0


#: ``progress(label, total)`` returns ``advance(n, failed=0)``, called as samples finish (``failed`` of them
#: with an error).
Progress = Callable[[str, int], Callable[..., None]]


def no_progress(label: str, total: int) -> Callable[..., None]:
    return lambda n, failed=0: None


def build_adapter(model: str, model_args: dict[str, Any], device: str) -> tuple[type[Adapter], Adapter]:
    """Import the adapter class and construct it with the user's ``--model-arg`` options."""
    cls = ADAPTERS.load(model)
    if not (inspect.isclass(cls) and issubclass(cls, Adapter)):
        raise RunError(f"model {model!r} resolves to {cls!r}, which is not a mige_eval.types.Adapter subclass")
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = [k for k in model_args if k not in known]
    if unknown and not accepts_any:
        raise RunError(
            f"adapter {cls.name or cls.__name__} has no option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(known) or 'none'}.{did_you_mean(unknown[0], known)}"
        )
    kwargs = dict(model_args)
    if "device" in known and "device" not in kwargs:
        kwargs["device"] = device
    try:
        return cls, cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise RunError(f"adapter {cls.name or cls.__name__}: bad option: {exc}") from exc


def model_label(model: str, cls: type[Adapter]) -> str:
    """Run-directory name of a model: its registry name, or the adapter's own name for file specs."""
    if ":" in model:
        return safe_id(cls.name or cls.__name__.lower())
    return safe_id(model)


def check_tasks(bench: Benchmark, cls: type[Adapter]) -> None:
    missing = [t for t in bench.card.tasks if t not in cls.tasks]
    if missing:
        raise RunError(
            f"adapter {cls.name or cls.__name__} cannot run {bench.name}: the benchmark needs task(s) "
            f"{', '.join(missing)}; the adapter supports {', '.join(sorted(cls.tasks)) or 'no tasks'}"
        )


def _generation(
    bench: Benchmark, model_name: str, adapter: Adapter, opts: RunOptions, ctx: ScoringContext
) -> dict[str, Any]:
    """What the run directory's images depend on (:func:`mige_eval.runrecord.check_generation`)."""
    return json.loads(
        json.dumps(
            {
                "bench": {"name": bench.name, **bench.generation_settings(ctx)},
                "model": model_name,
                "adapter": type(adapter).__qualname__,
                "adapter_config": adapter.config(),
                "seed": opts.seed,
            },
            default=str,
        )
    )


def _build_request(sample: Sample, seed: int, memo: ImageMemo) -> Request:
    load = memo.load
    return Request(
        id=sample.id,
        task=sample.task,
        subset=sample.subset,
        instruction=sample.instruction,
        instruction_images=[load(r) for r in sample.instruction_images],
        prompt=sample.prompt,
        source=load(sample.source) if sample.source else None,
        mask=load(sample.mask) if sample.mask else None,
        object=sample.object,
        seed=seed,
        size=sample.meta.get("output_size"),
        meta=dict(sample.meta),
    )


def _event(sample: Sample | BrokenSample, bench: Benchmark, seed: int) -> dict[str, Any]:
    """The fields every journal event of a sample repeats."""
    event = {"id": sample.id, "subset": sample.subset, "task": sample.task, "seed": seed}
    cluster = bench.cluster(sample)
    if cluster is not None:
        event["cluster"] = cluster
    return event


def _todo(record: dict | None, sample: Sample | BrokenSample, keys: dict[str, str]) -> tuple[bool, set[str]]:
    """(must generate, metrics to score) for a sample given its record."""
    if isinstance(sample, BrokenSample):
        return (record or {}).get("error") != sample.error, set()
    generate = not records.is_generated(record)
    return generate, {m for m, key in keys.items() if generate or not records.has_score(record, key)}


@dataclass
class _Counts:
    """What this command added: images, samples scored, values per metric, failures."""

    generated: int = 0
    failed: int = 0
    samples_scored: int = 0
    scored: dict[str, int] = field(default_factory=dict)

    def add(self, event: dict[str, Any], keys: dict[str, str]) -> None:
        self.failed += bool(event.get("error")) + sum(bool(e.get("error")) for e in event.get("scores", {}).values())
        self.samples_scored += bool(event.get("scores"))
        for metric, key in keys.items():
            if key in event.get("scores", {}):
                self.scored[metric] = self.scored.get(metric, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {"images": self.generated, "scores": dict(self.scored), "failures": self.failed}


class _Batch:
    """Generation then scoring of one batch of samples, failures isolated per sample."""

    def __init__(
        self, adapter: Adapter, scorer: Scorer | None, bench: Benchmark, store: RunStore, ctx: ScoringContext, seed: int
    ):
        self.adapter, self.scorer, self.bench, self.store, self.ctx, self.seed = (
            adapter,
            scorer,
            bench,
            store,
            ctx,
            seed,
        )
        self.counts = _Counts()

    def process(self, samples: Sequence[Sample], todo: dict[str, tuple[bool, set[str]]]) -> list[dict[str, Any]]:
        """One journal event per sample: the generation attempt (if one was due) and the new scores."""
        events = {s.id: _event(s, self.bench, sample_seed(self.seed, s.id)) for s in samples}
        outputs: dict[str, Image.Image] = {}
        to_generate = [s for s in samples if todo[s.id][0]]
        for sample, result in zip(to_generate, self._outputs(to_generate)):
            if isinstance(result, Exception):
                events[sample.id].update(image=None, error=str(result))
                continue
            try:
                outputs[sample.id] = self.store.save_output(sample.id, result)
            except ValueError as exc:  # an existing output file that does not decode: never stored
                events[sample.id].update(image=None, error=str(exc))
                continue
            events[sample.id].update(image=self.store.image_name(sample.id), error=None)
            native = getattr(result, "info", {}).get("native_size")
            if native:  # the size the model ran at, when the adapter resized its output to the one asked for
                events[sample.id]["native_size"] = list(native)
            self.counts.generated += 1
        to_score = [s for s in samples if todo[s.id][1] and not events[s.id].get("error")]
        for sample in to_score:
            if sample.id not in outputs:
                try:
                    outputs[sample.id] = load_path(self.store.image_path(sample.id))
                except ValueError as exc:
                    events[sample.id].update(
                        image=None, error=f"stored output unreadable, delete it to regenerate: {exc}"
                    )
        to_score = [s for s in to_score if s.id in outputs]
        if self.scorer and to_score:
            new = self.scorer.score(to_score, [outputs[s.id] for s in to_score], [todo[s.id][1] for s in to_score])
            for sample, scores in zip(to_score, new):
                events[sample.id]["scores"] = scores.entries
        for event in events.values():
            event["time"] = records.now()
        return list(events.values())

    def _outputs(self, samples: Sequence[Sample]) -> Sequence[Image.Image | EncodedImage | Exception]:
        """What the adapter gives: files that already exist (stored byte for byte; no request is built,
        so no input is decoded), or images it generates."""
        existing = getattr(self.adapter, "existing_outputs", None)
        if callable(existing):
            return existing(samples) if samples else []
        return self._generate(samples)

    def _outputs(self, samples: Sequence[Sample]) -> Sequence[Image.Image | EncodedImage | Exception]:
        """What the adapter gives: files that already exist (stored byte for byte; no request is built,
        so no input is decoded), or images it generates."""
        existing = getattr(self.adapter, "existing_outputs", None)
        if callable(existing):
            return existing(samples) if samples else []
        return self._generate(samples)

    def _generate(self, samples: Sequence[Sample]) -> list[Image.Image | Exception]:
        if not samples:
            return []
        samples = self.bench.prepare_inputs(samples, self.ctx)
        requests: list[Request] = []
        results: list[Image.Image | Exception | None] = []
        for sample in samples:
            try:
                requests.append(_build_request(sample, sample_seed(self.seed, sample.id), self.ctx.memo))
                results.append(None)
            except ValueError as exc:  # an input image that cannot be decoded
                results.append(exc)
        images = self._call(requests)
        it = iter(images)
        return [next(it) if r is None else r for r in results]

    def _call(self, requests: list[Request]) -> list[Image.Image | Exception]:
        if not requests:
            return []
        name = self.adapter.name or type(self.adapter).__name__
        try:
            images = self.bench.generate(self.adapter.generate, requests, self.ctx.memo.load)
        except FATAL_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - narrowed down to the failing sample below
            if len(requests) == 1:
                return [RuntimeError(f"adapter {name} failed on sample {requests[0].id}: {type(exc).__name__}: {exc}")]
            return [img for req in requests for img in self._call([req])]
        if not isinstance(images, (list, tuple)) or len(images) != len(requests):
            got = len(images) if isinstance(images, (list, tuple)) else type(images).__name__
            raise RunError(
                f"adapter {name} returned {got} images for {len(requests)} requests; "
                "generate() must return exactly one image per request, in order"
            )
        out: list[Image.Image | Exception] = []
        for req, img in zip(requests, images):
            try:
                out.append(check_output(img, f"adapter {name}, sample {req.id}"))
            except (TypeError, ValueError) as exc:
                out.append(exc)
        return out


def run(opts: RunOptions, progress: Progress = no_progress, log: Callable[[str], None] = print) -> RunResult:
    """Generate and score one benchmark into one run directory (module docstring). Every check happens
    before the first file is written: a command that fails before producing an image or a score leaves
    the directory byte for byte as it was."""
    presets = Presets.from_names(opts.presets)
    bench = open_benchmark(opts.bench, data=opts.data, presets=presets, options=opts.bench_options)
    foreign = presets.foreign(bench.preset_areas)
    if foreign:
        raise RunError(f"preset(s) {', '.join(foreign)} belong to another benchmark; {bench.name} does not read them")
    metric_names = parse_metric_names(opts.metrics, list(bench.card.default_metrics))
    unsupported = [m for m in metric_names if m not in bench.card.metrics]
    if unsupported:
        raise RunError(
            f"metric(s) {', '.join(unsupported)} are not defined for {bench.name} (docs/metrics.md); "
            f"its metrics are: {', '.join(bench.card.metrics)}"
        )
    cls, adapter = build_adapter(opts.model, opts.model_args, opts.scoring.device)
    check_tasks(bench, cls)
    shard = resolve_shard(opts.shard)

    all_samples = list(bench.samples())
    _check_unique(all_samples, bench.name)
    mine = shard.select(all_samples[: opts.limit] if opts.limit is not None else all_samples)

    name = model_label(opts.model, cls)
    run_dir = Path(opts.out) if opts.out else opts.results_root / bench.name / name
    store = RunStore(run_dir)
    ctx = ScoringContext(presets, opts.scoring, run_dir=run_dir, memo=ImageMemo())
    generation = _generation(bench, name, adapter, opts, ctx)
    must_clear = runrecord.check_generation(store, generation, opts.overwrite)
    _check_needs(metric_names, [s for s in mine if isinstance(s, Sample)], bench.name)
    scorer = Scorer(metric_names, ctx, bench) if metric_names else None  # resolves every backbone first
    keys = scorer.keys if scorer else {}
    journal = store.journal(shard.label)
    journal.claim()
    if must_clear:
        runrecord.clear(store)

    previous = store.records()
    todo = {s.id: _todo(previous.get(s.id), s, keys) for s in mine}
    pending = [s for s in mine if todo[s.id][0] or todo[s.id][1]]
    preflight = getattr(adapter, "preflight", None)
    if pending and callable(preflight):  # given this run's samples and the whole benchmark's
        wanted = [(s.id, s.meta) for s in pending if isinstance(s, Sample)]
        for warning in preflight(wanted, [(s.id, s.meta) for s in all_samples if isinstance(s, Sample)]) or ():
            log(warning)
    if pending and len(pending) < len(mine):
        log(f"resuming: {len(mine) - len(pending)} of {len(mine)} done")

    session = runrecord.Session(
        store,
        header={
            "bench": bench.name,
            "model": name,
            "generation": generation,
            "data": bench.fingerprint(),
            "environment": environment.describe(opts.scoring.device),
            **({"outputs": adapter.describe()} if callable(getattr(adapter, "describe", None)) else {}),
        },
        entry={
            "command": environment.command(),
            "shard": shard.label,
            "limit": opts.limit,
            "metrics": metric_names,
            "batch_size": opts.scoring.batch_size,
        },
        scorings={key: {"metric": m, "settings": scorer.settings[m]} for m, key in keys.items()},
    )
    batcher = _Batch(adapter, scorer, bench, store, ctx, opts.seed)
    outcome = "completed"
    try:
        if pending:
            advance = progress(f"{bench.name} · {run_dir.name}", len(pending))
            with journal:
                for sample in (s for s in pending if isinstance(s, BrokenSample)):
                    session.claim()
                    event = {
                        **_event(sample, bench, sample_seed(opts.seed, sample.id)),
                        "image": None,
                        "error": sample.error,
                        "time": records.now(),
                    }
                    journal.append(event)
                    batcher.counts.add(event, keys)
                    advance(1, failed=1)
                good = [s for s in pending if isinstance(s, Sample)]
                size = max(1, opts.scoring.batch_size)
                for start in range(0, len(good), size):
                    batch = good[start : start + size]
                    events = batcher.process(batch, todo)
                    session.claim()
                    for event in events:
                        journal.append(event)
                        batcher.counts.add(event, keys)
                    advance(len(batch), failed=sum(bool(e.get("error")) for e in events))
        current = (store.read_json("run.json") or {}).get("current", {})
        if any(current.get(m) != key for m, key in keys.items()):
            session.claim()  # nothing to compute, but this command's scoring is now the one reported
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    except BaseException as exc:
        outcome = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        used = {key: svc.describe() for key, svc in ctx.services().items() if hasattr(svc, "describe")}
        if scorer:
            scorer.close()
        if session.claimed:
            session.finish(
                outcome,
                batcher.counts.to_json(),
                {"environment": session.header["environment"], "backbones_used": used} if used else None,
            )
            if outcome != "completed":  # what was finished before the interruption or failure is reported
                merge(store, bench, name, all_samples)
    summary = merge(store, bench, name, all_samples)
    return RunResult(run_dir, summary, batcher.counts.generated, batcher.counts.samples_scored, batcher.counts.failed)


def _check_needs(metric_names: Sequence[str], samples: Sequence[Sample], bench: str) -> None:
    """Refuse a metric that no sample of this command can be scored on (a field it needs is missing from
    the data, e.g. captions in MagicBrush's hub dev split). A few samples lacking one fail alone."""
    from mige_eval.metrics import metric_info

    for name in metric_names:
        for needed in getattr(metric_info(name), "needs", ()):
            if samples and not any(getattr(s, needed) for s in samples):
                raise RunError(
                    f"metric {name} needs each sample's {needed.replace('_', ' ')}, and no sample of "
                    f"{bench} here has one; leave {name} out of --metrics"
                )


def _check_unique(samples: Sequence[Sample | BrokenSample], bench: str) -> None:
    seen: dict[str, str] = {}
    for s in samples:
        key = safe_id(s.id)
        if key in seen:
            raise RunError(f"{bench}: sample ids {seen[key]!r} and {s.id!r} collide (file name {key!r})")
        seen[key] = s.id


def merge(store: RunStore, bench: Benchmark, model: str, samples: Sequence[Sample | BrokenSample]) -> dict[str, Any]:
    """Fold every journal into samples.jsonl (benchmark order) and summary.json, under the run lock; a
    no-op (files untouched) when the journals and ``run.json`` are what the last merge saw; without any
    journal (nothing recorded yet, e.g. a shard with no samples) an empty summary that is not written."""
    if not store.journal_files():
        return store.read_json("summary.json") or summarize(
            [], bench=bench.name, model=model, expected=len(samples), current={}, unit=bench.cluster_unit
        )
    with store.lock():
        run_info = store.read_json("run.json") or {}
        previous = store.read_json("summary.json")
        state = {"journals": store.journal_sizes(), "current": run_info.get("current", {})}
        if previous is not None and store.read_json(MERGE_STATE) == state:
            return previous
        order = {s.id: i for i, s in enumerate(samples)}
        folded = store.records()
        merged = [
            records.view(folded[i], state["current"])
            for i in sorted(folded, key=lambda i: (order.get(i, len(order)), i))
        ]
        store.write_samples(merged)
        scale = next(
            (
                info["settings"].get("scale")
                for info in (run_info.get("scorings") or {}).values()
                if info["settings"].get("scale")
            ),
            "cosine",
        )
        summary = summarize(
            merged,
            bench=bench.name,
            model=model,
            scale=scale,
            expected=len(samples),
            notes=bench.notes(),
            current=state["current"],
            unit=bench.cluster_unit,
        )
        store.write_json("summary.json", summary)
        store.write_json(MERGE_STATE, state)
    return summary
