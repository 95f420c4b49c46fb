"""``l1`` and ``l2``: pixel distance to the reference, as the MagicBrush script computes it (docs/metrics.md).

Both images are 8-bit RGB. The output is resized to the reference's (W, H) with bicubic (a no-op
when the sizes match); both become floats in [0, 1]; then, over all 3·H·W values,

    l1 = mean |output − reference|        l2 = mean (output − reference)²

(``L1Loss`` / ``MSELoss`` with mean reduction: MSE, not RMSE). Geometry ``center-crop-ref`` first
centre-crops the reference to a min(W, H) square. Lower is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from PIL import Image

from mige_eval.metrics.base import Metric, Score, ScoreItem
from mige_eval.metrics.transforms import BICUBIC, center_crop_square, to_unit_float

GEOMETRIES = ("stretch", "center-crop-ref")


def align(output: Image.Image, reference: Image.Image, geometry: str = "stretch") -> tuple[np.ndarray, np.ndarray]:
    """Both images as H×W×3 floats in [0, 1] on the reference's grid."""
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown pixel geometry {geometry!r}: use {' or '.join(GEOMETRIES)}")
    if geometry == "center-crop-ref":
        reference = center_crop_square(reference)
    if output.size != reference.size:
        output = output.resize(reference.size, BICUBIC)
    return to_unit_float(output), to_unit_float(reference)


def distances(output: Image.Image, reference: Image.Image, geometry: str = "stretch") -> tuple[float, float]:
    """(l1, l2) from one alignment: the two metrics share the resize and the float conversion."""
    a, b = align(output, reference, geometry)
    diff = a - b
    return float(np.abs(diff).mean()), float(np.square(diff).mean())


def l1_distance(output: Image.Image, reference: Image.Image, geometry: str = "stretch") -> float:
    return distances(output, reference, geometry)[0]


def l2_distance(output: Image.Image, reference: Image.Image, geometry: str = "stretch") -> float:
    return distances(output, reference, geometry)[1]


class _PixelMetric(Metric):
    higher_is_better = False
    needs = ("references",)
    preset_areas = ("pixel_geometry",)
    #: Position of this metric's value in :func:`distances`.
    index: ClassVar[int]

    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        geometry = self.ctx.presets["pixel_geometry"]
        scores = []
        for item in items:
            refs = item.sample.references
            if len(refs) != 1:
                raise ValueError(
                    f"{self.name} compares with exactly one reference; sample {item.sample.id} has {len(refs)}"
                )
            key = ("pixel_distances", geometry)
            if key not in item.derived:
                item.derived[key] = distances(item.output, self.ctx.load(refs[0]), geometry)
            scores.append(Score(item.derived[key][self.index]))
        return scores


class L1(_PixelMetric):
    name = "l1"
    label = "L1"
    index = 0


class L2(_PixelMetric):
    name = "l2"
    label = "L2"
    index = 1
