"""``subject_dino`` and ``subject_clip_i`` (docs/metrics.md): does the output keep the subject the user gave?

Each compares the subject cut out of the output (:mod:`mige_eval.metrics.crops`: GroundingDINO box,
SAM mask, black background) with the sample's subject photo (MIGEBench's black-background entity, or
the white one under preset ``entity-white``): ``cos(D(crop), D(photo))`` and ``cos(E_I(crop), E_I(photo))``,
through the same backbones, preprocessing and feature cache as ``dino`` / ``clip_i``. A crop reaches
the feature store as a reference to its PNG bytes, so its features are cached by content and its
pixels decoded only when they must be encoded.

Per sample: no ``object`` prompt → ``null`` with flag ``no_object_prompt``; nothing above the box
threshold → scored on the whole output, flag ``no_detection``; a box that rounds to no pixel → ``null``,
flag ``empty_crop``. A sample without a subject photo fails with its id in the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from mige_eval.metrics.base import Score, ScoreItem, ScoringContext
from mige_eval.metrics.crops import PROCEDURE, subject_extractor
from mige_eval.metrics.similarity import _FeatureMetric, cosine


class _SubjectSimilarity(_FeatureMetric):
    """Cosine between the crop's and the subject photo's features of :attr:`kind`."""

    needs = ("subject_photo",)
    kind: ClassVar[str]

    def __init__(self, ctx: ScoringContext):
        super().__init__(ctx)
        subject_extractor(ctx).prepare()

    def settings(self) -> dict[str, Any]:
        extractor = subject_extractor(self.ctx)
        crops = {
            "procedure": PROCEDURE,
            "threshold": extractor.threshold,
            "detector": extractor.detector.fingerprint,
            "sam": extractor.segmenter.fingerprint,
        }
        return {**super().settings(), "crops": crops}

    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        for item in items:
            if item.sample.subject_photo is None:
                raise ValueError(f"sample {item.sample.id} has no subject photo for {self.name}")
        crops = subject_extractor(self.ctx).crops(items)
        live = [i for i, crop in enumerate(crops) if crop is not None and crop.png is not None]
        cut = self.store.image_features(self.kind, [crops[i].ref for i in live])
        photos = self.store.image_features(self.kind, [items[i].sample.subject_photo for i in live])
        scores = [Score(None, crop.flags if crop else ("no_object_prompt",)) for crop in crops]
        for i, crop_f, photo_f in zip(live, cut, photos):
            scores[i] = Score(cosine(crop_f, photo_f), crops[i].flags)
        return scores


class SubjectDino(_SubjectSimilarity):
    name = "subject_dino"
    label = "DINO"
    kind = "dino"
    roles = ("dino",)


class SubjectClipI(_SubjectSimilarity):
    name = "subject_clip_i"
    label = "CLIP-I"
    kind = "clip"
