"""The score stage: run every requested metric over a batch of outputs, isolating per-sample failures.

Before any metric sees an output, the output-storage preset (``jpeg75`` round-trips it through
Pillow's JPEG encoder) and the all-black rule are applied. A metric that raises on a batch is retried
one sample at a time, so one bad reference fails one sample, not the batch.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image

from mige_eval.metrics import metric_class
from mige_eval.metrics.base import Metric, Score, ScoreItem, ScoringContext
from mige_eval.errors import FATAL_ERRORS
from mige_eval.types import Sample


@dataclass
class SampleScores:
    """Everything the score stage found for one sample."""

    metrics: dict[str, float | None] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    error: str | None = None


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


class Scorer:
    """Holds the metric instances of a run (and, through the context, their backbones)."""

    def __init__(self, names: Sequence[str], ctx: ScoringContext):
        self.ctx = ctx
        self.metrics: list[Metric] = [metric_class(name)(ctx) for name in names]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def score(self, samples: Sequence[Sample], outputs: Sequence[Image.Image]) -> list[SampleScores]:
        storage = self.ctx.presets["output_storage"]
        skip_black = self.ctx.presets["black_outputs"] == "skip-black"
        results = [SampleScores() for _ in samples]
        live: list[int] = []
        items: list[ScoreItem] = []
        for i, (sample, output) in enumerate(zip(samples, outputs)):
            if is_all_black(output):
                results[i].flags.append("all_black")
                if skip_black:
                    results[i].metrics = {m.name: None for m in self.metrics}
                    continue
            live.append(i)
            items.append(ScoreItem(sample, apply_output_storage(output, storage)))
        scale = self.ctx.presets["scale"]
        for metric in self.metrics:
            pending = [(i, item) for i, item in zip(live, items) if results[i].error is None]
            for i, score in self._compute(metric, pending):
                if isinstance(score, Exception):
                    results[i].error = f"metric {metric.name}: {score}"
                    results[i].metrics = {}
                    continue
                results[i].metrics[metric.name] = _per_sample_value(metric, score.value, scale)
                results[i].flags.extend(f for f in score.flags if f not in results[i].flags)
        return results

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
