"""Scoring contexts on the tiny CLIP and DINO checkpoints (``tests/tiny_models.py``) and tiny grounding
models; the independent feature reference lives in ``tests/reference_features.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mige_eval.metrics.base import ScoringContext, ScoringOptions
from mige_eval.presets import Presets


@pytest.fixture()
def make_ctx(tmp_path, tiny_clip, tiny_dino):
    """A ScoringContext on the tiny backbones with a fresh cache folder; keyword arguments adjust it."""
    contexts = []

    def build(*presets: str, cache_dir: Path | None = None, **options) -> ScoringContext:
        options = {"clip_model": str(tiny_clip), "dino_model": str(tiny_dino), "device": "cpu", **options}
        opts = ScoringOptions(cache_dir=cache_dir or tmp_path / "cache", **options)
        ctx = ScoringContext(Presets.from_names(presets), opts)
        contexts.append(ctx)
        return ctx

    yield build
    for ctx in contexts:
        ctx.close()
