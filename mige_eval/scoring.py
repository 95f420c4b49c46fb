"""The score stage: every requested metric over a batch of outputs, each value keyed by what it depends on.

A *scoring configuration* is what a metric's values depend on besides the sample and its output: the
metric's own settings (backbone ids and revisions, its preset options; :meth:`Metric.settings`), the
presets applied to every output before scoring (``output_storage``, ``black_outputs``) and the
benchmark's own scoring rules (:meth:`Benchmark.scoring_settings`). Its key, ``"<metric>@<digest>"``,
names the values in the records, ``run.json`` and ``summary.json``, so scoring a run again with other
backbones adds values beside the earlier ones and never mixes them.

Before any metric sees an output, the output-storage preset (``jpeg75`` round-trips it through
Pillow's JPEG encoder) and the all-black rule are applied; a benchmark's exclusions (Emu Edit's
caption filter) give ``null`` values with a flag. A metric that raises on a batch is retried one
sample at a time, so one bad reference fails one sample's entry, not the batch.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from mige_eval.errors import FATAL_ERRORS
from mige_eval.metrics import metric_class
from mige_eval.metrics.base import Metric, Score, ScoreItem, ScoringContext
from mige_eval.types import Sample

if TYPE_CHECKING:
    from mige_eval.benchmarks.base import Benchmark

#: Presets applied to every output before any metric sees it.
OUTPUT_AREAS = ("output_storage", "black_outputs")


def scoring_key(metric: str, settings: dict[str, Any]) -> str:
    """``"<metric>@<10 hex>"``: the metric and a digest of its settings (canonical JSON)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return f"{metric}@{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def apply_output_storage(img: Image.Image, storage: str) -> Image.Image:
    """``png`` keeps the pixels; ``jpeg75`` mimics saving the output as a default-quality JPEG."""
    if storage == "png":
        return img
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=75)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def is_all_black(img: Image.Image) -> bool:
    return not np.asarray(img).any()


def _per_sample_value(metric: Metric, value: float | None, scale: str) -> float | None:
    """The ``clamp-per-sample`` and ``x100-clamp-mean`` scales act on cosine metrics per sample."""
    if value is None or not metric.cosine:
        return value
    if scale == "clamp-per-sample":
        return max(value, 0.0)
    if scale == "x100-clamp-mean":
        return 100.0 * value
    return value


def _compared(metric: Metric, sample: Sample) -> dict[str, Any]:
    """What an entry shows of its inputs: the images the output was compared with, and the CLIP text."""
    shown: dict[str, Any] = {}
    refs = [r.label for r in sample.references] if "references" in metric.needs else []
    refs += [sample.source.label] if "source" in metric.needs and sample.source else []
    refs += [sample.subject_photo.label] if "subject_photo" in metric.needs and sample.subject_photo else []
    if refs:
        shown["references"] = refs
    if "caption" in metric.needs and sample.caption is not None:
        shown["caption"] = sample.caption
    return shown


@dataclass(frozen=True)
class SampleScores:
    """One sample's new entries (scoring key → entry), read by metric name."""

    entries: dict[str, dict[str, Any]]
    keys: Mapping[str, str]  # metric → scoring key

    @property
    def error(self) -> str | None:
        return next(
            (
                f"metric {m}: {self.entries[k]['error']}"
                for m, k in self.keys.items()
                if self.entries.get(k, {}).get("error")
            ),
            None,
        )

    @property
    def metrics(self) -> dict[str, float | None]:
        """The values by metric name (none when a metric failed: the sample then has an error)."""
        if self.error:
            return {}
        return {m: self.entries[k]["value"] for m, k in self.keys.items() if k in self.entries}

    @property
    def flags(self) -> list[str]:
        out: list[str] = []
        for key in self.keys.values():
            out += [f for f in self.entries.get(key, {}).get("flags", ()) if f not in out]
        return out


class Scorer:
    """The metric instances of a run, their scoring configurations, and the batch scoring loop.

    Building it builds every metric, which resolves (but does not load) the backbones they need: a
    missing one stops the command before anything is written.
    """

    def __init__(self, names: Sequence[str], ctx: ScoringContext, bench: Benchmark | None = None):
        self.ctx, self.bench = ctx, bench
        self.metrics: list[Metric] = [metric_class(name)(ctx) for name in names]
        bench_settings = {"name": bench.name, **bench.scoring_settings()} if bench else {}
        common = {"outputs": ctx.presets.of(OUTPUT_AREAS), "benchmark": bench_settings}
        #: metric → its full settings, and → its key.
        self.settings = {m.name: {"metric": m.name, **common, **m.settings()} for m in self.metrics}
        self.keys = {name: scoring_key(name, settings) for name, settings in self.settings.items()}

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def score(
        self, samples: Sequence[Sample], outputs: Sequence[Image.Image], wanted: Sequence[set[str]] | None = None
    ) -> list[SampleScores]:
        """Per sample, the new entries (scoring key → entry) for the metrics in its ``wanted`` set (all by
        default). An entry is ``{"value", "flags"}`` plus ``references`` / ``caption`` it was compared
        with, or ``{"value": None, "error"}`` when the metric failed on that sample."""
        wanted = wanted if wanted is not None else [set(self.names)] * len(samples)
        storage = self.ctx.presets["output_storage"]
        skip_black = self.ctx.presets["black_outputs"] == "skip-black"
        scale = self.ctx.presets["scale"]
        results: list[dict[str, dict[str, Any]]] = [{} for _ in samples]
        items: dict[int, ScoreItem] = {}
        black: set[int] = set()
        for i, (sample, output) in enumerate(zip(samples, outputs)):
            if not wanted[i]:
                continue
            if is_all_black(output):
                black.add(i)
            if not (skip_black and i in black):
                items[i] = ScoreItem(sample, apply_output_storage(output, storage))
        for metric in self.metrics:
            key = self.keys[metric.name]
            pending: list[tuple[int, ScoreItem]] = []
            for i, sample in enumerate(samples):
                if metric.name not in wanted[i]:
                    continue
                flags = ["all_black"] if i in black else []
                excluded = self.bench.exclusions(sample) if self.bench else {}
                reason = excluded.get(metric.name) or excluded.get("*")
                if reason or i not in items:  # excluded by the benchmark, or all black under skip-black
                    results[i][key] = {"value": None, "flags": flags + ([reason] if reason else [])}
                    continue
                pending.append((i, items[i]))
            for i, score in self._compute(metric, pending):
                if isinstance(score, Exception):
                    results[i][key] = {"value": None, "error": str(score)}
                    continue
                flags = (["all_black"] if i in black else []) + [f for f in score.flags if f != "all_black"]
                results[i][key] = {
                    "value": _per_sample_value(metric, score.value, scale),
                    "flags": flags,
                    **_compared(metric, samples[i]),
                }
        return [SampleScores(entries, self.keys) for entries in results]

    def _compute(self, metric: Metric, pending: list[tuple[int, ScoreItem]]) -> list[tuple[int, Score | Exception]]:
        if not pending:
            return []
        try:
            scores = metric.compute([item for _, item in pending])
        except FATAL_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - becomes the sample's error, or is narrowed down per sample
            if len(pending) == 1:
                return [(pending[0][0], exc)]
            return [pair for one in pending for pair in self._compute(metric, [one])]
        if len(scores) != len(pending):
            raise RuntimeError(f"metric {metric.name} returned {len(scores)} scores for {len(pending)} samples")
        return [(i, score) for (i, _), score in zip(pending, scores)]

    def close(self) -> None:
        self.ctx.close()
