"""Geometric transforms with the exact rounding of the published scripts (docs/metrics.md, image decoding).

All resizing happens on 8-bit RGB PIL images with an explicitly named filter; conversion to float
comes afterwards. These are the only resize/crop helpers the metrics use.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

BICUBIC = Image.Resampling.BICUBIC


def shorter_side_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(W, H) after resizing the shorter side to ``size``; the long side is ``int(size · long / short)``."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def resize_shorter_side(img: Image.Image, size: int, resample: Image.Resampling = BICUBIC) -> Image.Image:
    target = shorter_side_size(img.width, img.height, size)
    return img if target == img.size else img.resize(target, resample)


def center_crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    """Pillow box of a ``crop`` × ``crop`` centre crop: top/left = ``round((H − c) / 2)`` (Python rounding)."""
    top = int(round((height - crop) / 2.0))
    left = int(round((width - crop) / 2.0))
    return left, top, left + crop, top + crop


def center_crop(img: Image.Image, crop: int) -> Image.Image:
    box = center_crop_box(img.width, img.height, crop)
    return img if box == (0, 0, img.width, img.height) else img.crop(box)


def center_crop_square(img: Image.Image) -> Image.Image:
    """Centre crop to a ``min(W, H)`` square (the ``center-crop-ref`` geometry)."""
    return center_crop(img, min(img.size))


def to_unit_float(img: Image.Image) -> np.ndarray:
    """H×W×3 float64 array in [0, 1] (value / 255)."""
    return np.asarray(img, dtype=np.float64) / 255.0
