"""Adapters the runner tests load through ``--model tests/helpers/adapters.py:Class``.

Each behaves like a model in one particular way (deterministic per seed, slow, failing on one
sample, returning the wrong number of images), so the runner's handling of it can be checked.
"""

from __future__ import annotations

import os
import time

import numpy as np
from PIL import Image

from mige_eval.types import TASKS, Adapter


def noise_image(seed: int, size=(32, 24)) -> Image.Image:
    """An image determined by the seed alone."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


class SeedNoise(Adapter):
    """Returns noise drawn from each request's seed; records every batch size it saw."""

    name = "seed-noise"
    tasks = frozenset(TASKS)

    def __init__(self, *, width: int = 32, height: int = 24, delay: float = 0.0, device: str = "cpu"):
        self.size = (width, height)
        self.delay = delay
        self.device = device

    def generate(self, requests):
        time.sleep(self.delay * len(requests))
        return [noise_image(r.seed, self.size) for r in requests]

    def config(self):
        return {"size": list(self.size)}


class FailsOn(SeedNoise):
    """Raises for the sample whose id is in MIGE_EVAL_TEST_FAIL_ID (or the ``fail_id`` option)."""

    name = "fails-on"

    def __init__(self, *, fail_id: str = "", **kwargs):
        super().__init__(**kwargs)
        self.fail_id = fail_id or os.environ.get("MIGE_EVAL_TEST_FAIL_ID", "")

    def generate(self, requests):
        if any(r.id == self.fail_id for r in requests):
            raise RuntimeError(f"model blew up on {self.fail_id}")
        return super().generate(requests)


class DropsOne(SeedNoise):
    """Returns one image too few: a broken adapter the runner must name."""

    name = "drops-one"

    def generate(self, requests):
        return super().generate(requests)[:-1] if len(requests) > 1 else []


class EditOnly(SeedNoise):
    name = "edit-only"
    tasks = frozenset({"edit"})


class HalveSource(SeedNoise):
    """An 'editor' that halves every pixel of its source, so chained turns are visible in the output."""

    name = "halve-source"
    tasks = frozenset({"edit"})

    def generate(self, requests):
        return [r.source.point(lambda v: v // 2) for r in requests]
