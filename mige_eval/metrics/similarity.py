"""``dino``, ``clip_i``, ``clip_t`` and ``clip_dir`` (docs/metrics.md, metric definitions): pure functions on
features, and their metrics.

The functions are the published definitions on feature vectors, computed in float64:

- ``dino`` / ``clip_i``: cos(output, reference), averaged over a sample's references (DreamBench
  compares with every photo of the subject);
- ``clip_t``: cos(image embedding of the output, text embedding of the caption);
- ``clip_dir``: cos(Δimage, Δtext) with Δ = output − source and output caption − input caption, of
  L2-normalised embeddings (``normalize-diff``, the InstructPix2Pix convention) or raw ones (``raw-diff``).

The classes fetch the features through the run's :mod:`feature store <mige_eval.metrics.features>`.
Undefined ``clip_dir`` values are decided from token ids and pixels, never from a near-zero norm:
identical captions or an output identical to its source give ``null`` (or 0 with preset ``zero``),
a missing caption gives ``null``; each is flagged so ``summary.json`` counts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from mige_eval.images import to_rgb
from mige_eval.metrics.backbones import backbone
from mige_eval.metrics.base import Metric, Score, ScoreItem, ScoringContext
from mige_eval.metrics.features import FeatureStore, feature_store

CLIP_DIR_FORMULAS = ("normalize-diff", "raw-diff")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """a·b / (‖a‖‖b‖) in float64; NaN when either vector is zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def image_similarity(output: np.ndarray, references: np.ndarray) -> float:
    """Mean over the reference rows of cos(output, reference): the per-sample ``dino`` / ``clip_i``."""
    refs = np.atleast_2d(np.asarray(references, np.float64))
    out = np.asarray(output, np.float64)
    if not len(refs):
        raise ValueError("image similarity needs at least one reference feature")
    return float(np.mean(refs @ out / (np.linalg.norm(refs, axis=1) * np.linalg.norm(out))))


def clip_direction(
    source: np.ndarray,
    output: np.ndarray,
    input_text: np.ndarray,
    output_text: np.ndarray,
    formula: str = "normalize-diff",
) -> float | None:
    """cos(E_I(output) − E_I(source), E_T(output caption) − E_T(input caption)); ``None`` for a zero direction."""
    if formula not in CLIP_DIR_FORMULAS:
        raise ValueError(f"unknown clip_dir formula {formula!r}: use {' or '.join(CLIP_DIR_FORMULAS)}")
    vecs = [np.asarray(v, np.float64) for v in (source, output, input_text, output_text)]
    if formula == "normalize-diff":
        vecs = [v / np.linalg.norm(v) for v in vecs]
    d_image, d_text = vecs[1] - vecs[0], vecs[3] - vecs[2]
    if not np.linalg.norm(d_image) or not np.linalg.norm(d_text):
        return None
    return cosine(d_image, d_text)


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()


def outputs_of(items: Sequence[ScoreItem]) -> list[Image.Image]:
    """The outputs as 8-bit RGB; a zero-size output fails its sample with its id in the message."""
    return [to_rgb(item.output, f"output of sample {item.sample.id}") for item in items]


def enforce_context(ctx: ScoringContext, sample_ids: Sequence[str], truncated: Sequence[bool]) -> None:
    """Preset ``strict``: a text over CLIP's context fails its sample instead of being truncated."""
    if ctx.presets["long_text"] != "strict":
        return
    for sample_id, cut in zip(sample_ids, truncated):
        if cut:
            raise ValueError(
                f"sample {sample_id}: a caption is longer than CLIP's 77-token context and preset "
                "strict refuses to truncate it (the default truncate-eot keeps the end-of-text token)"
            )


class _FeatureMetric(Metric):
    """A cosine metric on backbone features; constructing it checks backbones and cache before any sample."""

    higher_is_better = True
    cosine = True
    preset_areas = ("precision", "scale")
    roles: ClassVar[tuple[str, ...]] = ("clip",)

    def __init__(self, ctx: ScoringContext):
        super().__init__(ctx)
        for role in self.roles:
            backbone(ctx, role).prepare()
        feature_store(ctx)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "models": {role: backbone(self.ctx, role).fingerprint for role in self.roles}}

    @property
    def store(self) -> FeatureStore:
        return feature_store(self.ctx)


class _ImageSimilarity(_FeatureMetric):
    needs = ("references",)
    kind: ClassVar[str]

    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        for item in items:
            if not item.sample.references:
                raise ValueError(f"sample {item.sample.id} has no reference image for {self.name}")
        outputs = self.store.image_features(self.kind, outputs_of(items))
        refs = self.store.image_features(self.kind, [r for item in items for r in item.sample.references])
        scores, start = [], 0
        for item, output in zip(items, outputs):
            count = len(item.sample.references)
            scores.append(Score(image_similarity(output, refs[start : start + count])))
            start += count
        return scores


class Dino(_ImageSimilarity):
    name = "dino"
    label = "DINO"
    kind = "dino"
    roles = ("dino",)


class ClipI(_ImageSimilarity):
    name = "clip_i"
    label = "CLIP-I"
    kind = "clip"


class ClipT(_FeatureMetric):
    name = "clip_t"
    label = "CLIP-T"
    needs = ("caption",)
    preset_areas = _FeatureMetric.preset_areas + ("long_text",)

    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        for item in items:
            if item.sample.caption is None:
                raise ValueError(f"sample {item.sample.id} has no caption for clip_t")
        texts = self.store.text_features([item.sample.caption for item in items])
        enforce_context(self.ctx, [item.sample.id for item in items], texts.truncated)
        images = self.store.image_features("clip", self.images(items))
        return [
            Score(cosine(image, text), ("caption_truncated",) if cut else ())
            for image, text, cut in zip(images, texts.vectors, texts.truncated)
        ]

    def images(self, items: Sequence[ScoreItem]) -> list:
        return outputs_of(items)


class ClipTOracle(ClipT):
    """CLIP-T of the ground-truth target with the same caption: the ceiling the MagicBrush script prints
    beside CLIP-T ("oracle"). It does not depend on the model's output."""

    name = "clip_t_oracle"
    label = "CLIP-T oracle"
    needs = ("caption", "references")

    def images(self, items: Sequence[ScoreItem]) -> list:
        for item in items:
            if not item.sample.references:
                raise ValueError(f"sample {item.sample.id} has no ground-truth target for clip_t_oracle")
        return [item.sample.references[0] for item in items]


class ClipDir(_FeatureMetric):
    name = "clip_dir"
    label = "CLIPdir"
    needs = ("source",)
    preset_areas = _FeatureMetric.preset_areas + ("long_text", "clip_dir", "clip_dir_zero")
    #: Flags that leave the direction undefined (``null``, or 0 under preset ``zero``).
    undefined_flags = frozenset({"clip_dir_identical_captions", "clip_dir_identical_images"})

    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        formula = self.ctx.presets["clip_dir"]
        kind = "clip_ip2p" if formula == "ip2p" else "clip"
        undefined = 0.0 if self.ctx.presets["clip_dir_zero"] == "zero" else None
        outputs = outputs_of(items)
        for item in items:
            if item.sample.source is None:
                raise ValueError(f"sample {item.sample.id} has no source image for clip_dir")
        live = [
            i
            for i, item in enumerate(items)
            if all(c and c.strip() for c in (item.sample.input_caption, item.sample.output_caption))
        ]
        texts = self.store.text_features(
            [c for i in live for c in (items[i].sample.input_caption, items[i].sample.output_caption)]
        )
        pair = {i: (2 * n, 2 * n + 1) for n, i in enumerate(live)}  # rows of the input and output caption
        cut = {i: texts.truncated[pair[i][0]] or texts.truncated[pair[i][1]] for i in live}
        enforce_context(self.ctx, [items[i].sample.id for i in live], [cut[i] for i in live])
        flags = {
            i: ("caption_truncated",) * cut[i] + self._undefined(items[i], outputs[i], texts, *pair[i]) for i in live
        }
        directional = [i for i in live if not self.undefined_flags & set(flags[i])]
        out_f = self.store.image_features(kind, [outputs[i] for i in directional])
        src_f = self.store.image_features(kind, [items[i].sample.source for i in directional])
        math = "normalize-diff" if formula == "ip2p" else formula
        values = {
            i: clip_direction(src, out, texts.vectors[pair[i][0]], texts.vectors[pair[i][1]], math)
            for i, src, out in zip(directional, src_f, out_f)
        }
        scores = [Score(None, ("clip_dir_missing_caption",))] * len(items)
        for i in live:
            scores[i] = Score(undefined if values.get(i) is None else values[i], flags[i])
        return scores

    def _undefined(self, item: ScoreItem, output: Image.Image, texts, a: int, b: int) -> tuple[str, ...]:
        """Why the direction is undefined, decided from token ids and pixels (never from a tiny norm)."""
        flags: tuple[str, ...] = ()
        if texts.token_ids[a] == texts.token_ids[b]:
            flags += ("clip_dir_identical_captions",)
        if same_pixels(output, self.ctx.load(item.sample.source)):
            flags += ("clip_dir_identical_images",)
        return flags
