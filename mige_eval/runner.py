"""The generate and score stages over one benchmark, resumable, into one run directory.

``run`` (``mige-eval run`` and ``mige-eval score``) walks this process's shard of the benchmark in
batches. For each sample it generates the image unless one is stored (``images/<id>.png``; outputs
made elsewhere keep their format, ``images/<id>.jpg``), scores it with
the requested metrics unless its record already has them, and appends the record to the shard's
journal. At the end it merges every journal into ``samples.jsonl`` and writes ``summary.json``.
A second identical invocation finds nothing to do and rewrites nothing.
"""
from __future__ import annotations

import inspect
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image

from mige_eval import environment
from mige_eval.benchmarks.base import Benchmark
from mige_eval.benchmarks.open import open_benchmark
from mige_eval.benchmarks.turns import generate_chained
from mige_eval.images import EncodedImage, ImageMemo, check_output, load_path
from mige_eval.metrics import parse_metric_names
from mige_eval.metrics.base import ScoringContext, ScoringOptions
from mige_eval.presets import BACKBONE_IDS, Presets
from mige_eval.registry import ADAPTERS
from mige_eval.scoring import Scorer
from mige_eval.sharding import resolve_shard, sample_seed
from mige_eval.store import RunStore, safe_id
from mige_eval.summary import summarize
from mige_eval.errors import FATAL_ERRORS
from mige_eval.types import Adapter, BrokenSample, Request, Sample


class RunError(RuntimeError):
    """A run that cannot start or continue; nothing already written is touched."""


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
            f"its options are: {', '.join(known) or 'none'}"
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


def backbone_ids(presets: Presets, scoring: ScoringOptions) -> dict[str, str]:
    return {
        "clip": scoring.clip_model or BACKBONE_IDS[presets["clip_backbone"]],
        "dino": scoring.dino_model or BACKBONE_IDS[presets["dino_backbone"]],
        "detector": scoring.detector_model or BACKBONE_IDS[presets["detector"]],
        "sam": scoring.sam_model or "facebook/sam-vit-huge",
    }


def _identity(bench: Benchmark, model_name: str, adapter: Adapter, opts: RunOptions, presets: Presets) -> dict:
    """What must match for an existing run directory to be continued."""
    return json.loads(json.dumps({
        "bench": bench.name,
        "source": bench.card.source,
        "bench_options": opts.bench_options,
        "model": model_name,
        "adapter": type(adapter).__qualname__,
        "adapter_config": adapter.config(),
        "seed": opts.seed,
        "presets": presets.to_json(),
        "backbones": backbone_ids(presets, opts.scoring),
    }, default=str))


def _check_identity(store: RunStore, identity: dict, overwrite: bool) -> None:
    previous = store.read_json("run.json")
    if previous is None or previous.get("identity") == identity:
        return
    if overwrite:
        for name in ("images", "records", "crops"):
            shutil.rmtree(store.root / name, ignore_errors=True)
        for name in ("samples.jsonl", "summary.json", "run.json"):
            (store.root / name).unlink(missing_ok=True)
        return
    old = previous.get("identity", {})
    diffs = [f"{k}: {old.get(k)!r} -> {identity.get(k)!r}" for k in identity if old.get(k) != identity.get(k)]
    raise RunError(
        f"{store.root} holds a run with other settings ({'; '.join(diffs) or 'unreadable run.json'}). "
        "Use another --out, or --overwrite to delete its images and records and start again."
    )


def _build_request(sample: Sample, seed: int, memo: ImageMemo) -> Request:
    load = memo.load
    return Request(
        id=sample.id, task=sample.task, subset=sample.subset, instruction=sample.instruction,
        instruction_images=[load(r) for r in sample.instruction_images], prompt=sample.prompt,
        source=load(sample.source) if sample.source else None, mask=load(sample.mask) if sample.mask else None,
        object=sample.object, seed=seed, size=sample.meta.get("output_size"), meta=dict(sample.meta),
    )


def _record(sample: Sample | BrokenSample, store: RunStore, seed: int, *, error: str | None = None,
            metrics: dict | None = None, flags: Sequence[str] = ()) -> dict[str, Any]:
    has_image = store.has_image(sample.id)
    refs = getattr(sample, "references", ())
    return {
        "id": sample.id,
        "subset": sample.subset,
        "task": sample.task,
        "image": store.image_name(sample.id) if has_image else None,
        "seed": seed,
        "references": [r.label for r in refs],
        "caption": getattr(sample, "caption", None),
        "metrics": {} if error else dict(metrics or {}),
        "flags": list(flags),
        "error": error,
    }


def _is_done(record: dict | None, sample: Sample | BrokenSample, store: RunStore, metrics: Sequence[str]) -> bool:
    if record is None:
        return False
    if isinstance(sample, BrokenSample):
        return record.get("error") == sample.error
    return (not record.get("error") and store.has_image(sample.id)
            and all(name in (record.get("metrics") or {}) for name in metrics))


class _Batch:
    """Generation then scoring of one batch of samples, failures isolated per sample."""

    def __init__(self, adapter: Adapter, scorer: Scorer | None, store: RunStore, memo: ImageMemo, seed: int):
        self.adapter, self.scorer, self.store, self.memo, self.seed = adapter, scorer, store, memo, seed
        self.generated = 0

    def process(self, samples: Sequence[Sample]) -> list[dict[str, Any]]:
        errors: dict[str, str] = {}
        outputs: dict[str, Image.Image] = {}
        to_generate = [s for s in samples if not self.store.has_image(s.id)]
        for sample, result in zip(to_generate, self._outputs(to_generate)):
            if isinstance(result, Exception):
                errors[sample.id] = str(result)
                continue
            try:
                outputs[sample.id] = self.store.save_output(sample.id, result)
            except ValueError as exc:  # an existing output file that does not decode: never stored
                errors[sample.id] = str(exc)
                continue
            self.generated += 1
        ready = [s for s in samples if s.id not in errors]
        for sample in ready:
            if sample.id not in outputs:
                try:
                    outputs[sample.id] = load_path(self.store.image_path(sample.id))
                except ValueError as exc:
                    errors[sample.id] = f"stored output unreadable, delete it to regenerate: {exc}"
        ready = [s for s in ready if s.id not in errors]
        scores = self.scorer.score(ready, [outputs[s.id] for s in ready]) if self.scorer else []
        by_id = {s.id: sc for s, sc in zip(ready, scores)}
        records = []
        for sample in samples:
            seed = sample_seed(self.seed, sample.id)
            if sample.id in errors:
                records.append(_record(sample, self.store, seed, error=errors[sample.id]))
            elif sample.id in by_id:
                sc = by_id[sample.id]
                records.append(_record(sample, self.store, seed, error=sc.error, metrics=sc.metrics, flags=sc.flags))
            else:
                records.append(_record(sample, self.store, seed))
        return records

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
        requests: list[Request] = []
        results: list[Image.Image | Exception | None] = []
        for sample in samples:
            try:
                requests.append(_build_request(sample, sample_seed(self.seed, sample.id), self.memo))
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
            images = generate_chained(self.adapter.generate, requests, self.memo.load)
        except FATAL_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - narrowed down to the failing sample below
            if len(requests) == 1:
                return [RuntimeError(f"adapter {name} failed on sample {requests[0].id}: "
                                     f"{type(exc).__name__}: {exc}")]
            return [img for req in requests for img in self._call([req])]
        if not isinstance(images, (list, tuple)) or len(images) != len(requests):
            got = len(images) if isinstance(images, (list, tuple)) else type(images).__name__
            raise RunError(f"adapter {name} returned {got} images for {len(requests)} requests; "
                           "generate() must return exactly one image per request, in order")
        out: list[Image.Image | Exception] = []
        for req, img in zip(requests, images):
            try:
                out.append(check_output(img, f"adapter {name}, sample {req.id}"))
            except (TypeError, ValueError) as exc:
                out.append(exc)
        return out


def run(opts: RunOptions, progress: Progress = no_progress, log: Callable[[str], None] = print) -> RunResult:
    presets = Presets.from_names(opts.presets)
    bench = open_benchmark(opts.bench, data=opts.data, presets=presets, options=opts.bench_options)
    metric_names = parse_metric_names(opts.metrics, list(bench.card.default_metrics))
    unsupported = [m for m in metric_names if m not in bench.card.metrics]
    if unsupported:
        raise RunError(f"metric(s) {', '.join(unsupported)} are not defined for {bench.name} (METRICS.md); "
                       f"its metrics are: {', '.join(bench.card.metrics)}")
    cls, adapter = build_adapter(opts.model, opts.model_args, opts.scoring.device)
    check_tasks(bench, cls)
    shard = resolve_shard(opts.shard)

    benchmark = list(bench.samples())
    _check_unique(benchmark, bench.name)
    all_samples = benchmark[: opts.limit] if opts.limit is not None else benchmark
    mine = shard.select(all_samples)

    name = model_label(opts.model, cls)
    run_dir = Path(opts.out) if opts.out else opts.results_root / bench.name / name
    store = RunStore(run_dir)
    identity = _identity(bench, name, adapter, opts, presets)
    _check_identity(store, identity, opts.overwrite)

    records = store.records()
    pending = [s for s in mine if not _is_done(records.get(s.id), s, store, metric_names)]
    preflight = getattr(adapter, "preflight", None)
    if pending and callable(preflight):  # given this run's samples and the whole benchmark's
        keys = [(s.id, s.meta) for s in pending if isinstance(s, Sample)]
        for warning in preflight(keys, [(s.id, s.meta) for s in benchmark if isinstance(s, Sample)]) or ():
            log(warning)
    if pending and len(pending) < len(mine):
        log(f"resuming: {len(mine) - len(pending)} of {len(mine)} done")

    generated = scored = failed = 0
    if pending:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        store.write_json("run.json", _run_json(store, identity, bench, adapter, opts, metric_names, shard, started))
        memo = ImageMemo()
        ctx = ScoringContext(presets, opts.scoring, run_dir=run_dir, memo=memo)
        scorer = Scorer(metric_names, ctx) if metric_names else None
        batcher = _Batch(adapter, scorer, store, memo, opts.seed)
        advance = progress(f"{bench.name} · {run_dir.name}", len(pending))
        try:
            with store.journal(shard.label) as journal:
                for sample in (s for s in pending if isinstance(s, BrokenSample)):
                    journal.append(_record(sample, store, sample_seed(opts.seed, sample.id), error=sample.error))
                    failed += 1
                    advance(1, failed=1)
                good = [s for s in pending if isinstance(s, Sample)]
                size = max(1, opts.scoring.batch_size)
                for start in range(0, len(good), size):
                    records = batcher.process(good[start:start + size])
                    for record in records:
                        journal.append(record)
                        scored += bool(record["metrics"])
                    bad = sum(bool(r["error"]) for r in records)
                    failed += bad
                    advance(len(records), failed=bad)
        finally:
            generated = batcher.generated
            used = {key: svc.describe() for key, svc in ctx.services().items() if hasattr(svc, "describe")}
            if scorer:
                scorer.close()
            summary = _merge(store, bench, name, all_samples, metric_names, presets)
            run_info = store.read_json("run.json") or {}
            run_info["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            run_info["backbones_used"] = {**run_info.get("backbones_used", {}), **used}
            store.write_json("run.json", run_info)
    else:
        summary = _merge(store, bench, name, all_samples, metric_names, presets)
    return RunResult(run_dir, summary, generated, scored, failed)


def _check_unique(samples: Sequence[Sample | BrokenSample], bench: str) -> None:
    seen: dict[str, str] = {}
    for s in samples:
        key = safe_id(s.id)
        if key in seen:
            raise RunError(f"{bench}: sample ids {seen[key]!r} and {s.id!r} collide (file name {key!r})")
        seen[key] = s.id


def _merge(store: RunStore, bench: Benchmark, model: str, samples: Sequence[Sample | BrokenSample],
           metric_names: Sequence[str], presets: Presets) -> dict[str, Any]:
    """Fold every journal into samples.jsonl (benchmark order) and summary.json, under the run lock."""
    with store.lock():
        records = store.records()
        order = {s.id: i for i, s in enumerate(samples)}
        merged = sorted(records.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"]))
        store.write_samples(merged)
        summary = summarize(merged, bench=bench.name, model=model, metrics=metric_names,
                            scale=presets["scale"], expected=len(samples),
                            notes=_preset_notes(presets) + bench.notes())
        store.write_json("summary.json", summary)
    return summary


def _preset_notes(presets: Presets) -> list[str]:
    extra = presets.non_default()
    return [f"non-default presets: {', '.join(extra)}"] if extra else []


def _run_json(store: RunStore, identity: dict, bench: Benchmark, adapter: Adapter, opts: RunOptions,
              metric_names: Sequence[str], shard: Any, started: str) -> dict[str, Any]:
    previous = store.read_json("run.json") or {}
    return {
        "identity": identity,
        "bench": bench.name,
        "data": bench.fingerprint(),
        "model": identity["model"],
        "adapter_config": identity["adapter_config"],
        "metrics": list(metric_names),
        "presets": identity["presets"],
        "backbones": identity["backbones"],
        "seed": opts.seed,
        "limit": opts.limit,
        "shard": {"index": shard.index, "count": shard.count, "origin": shard.origin},
        "batch_size": opts.scoring.batch_size,
        "environment": environment.describe(opts.scoring.device),
        **({"outputs": adapter.describe()} if callable(getattr(adapter, "describe", None)) else {}),
        "backbones_used": previous.get("backbones_used", {}),
        "started": previous.get("started", started),
        "last_started": started,
    }

