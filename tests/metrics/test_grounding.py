"""GroundingDINO and SAM of the real architectures (tiny, random) through ``--detector-model`` / ``--sam-model``.

The crops are checked against ``tiny_grounding.reference_crop``: MIGE's extraction script restated in
torch on the transformers models, with their own processors and ``post_process_masks`` — none of the
project's box, mask or crop code.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from mige_eval.errors import MissingWeightsError
from mige_eval.images import ImageRef, encode_png
from mige_eval.metrics import grounding
from mige_eval.metrics.backbones import BackboneError
from mige_eval.metrics.base import ScoringContext, ScoringOptions
from mige_eval.metrics.grounding import FORWARDS, GroundingDino, Sam, detector_for, download_grounding, sam_for
from mige_eval.presets import Presets
from mige_eval.scoring import Scorer
from tiny_grounding import reference_crop

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def noise(w: int, h: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), np.uint8), "RGB")


@pytest.fixture()
def grounded_ctx(make_ctx, tiny_gdino, tiny_sam, tmp_path):
    ctx = make_ctx(detector_model=str(tiny_gdino), sam_model=str(tiny_sam))
    ctx.run_dir = tmp_path / "run"
    return ctx


def test_crops_and_scores_match_an_independent_grounded_sam(
    grounded_ctx, tiny_gdino, tiny_sam, kit, independent, tmp_path
):
    # The last two far below the detector's 64 px input.
    outputs = [noise(80, 48, 0), noise(30, 50, 1), noise(7, 5, 2), noise(24, 20, 3)]
    prompts = ["A Red Backpack", "dog", "a cat.", "vase"]
    photo = noise(40, 40, 9)
    samples = [
        kit.sample(
            f"m{n}",
            task="subject_replace",
            object=p,
            subject_photo=ImageRef.from_bytes(encode_png(photo), "entity.png"),
        )
        for n, p in enumerate(prompts)
    ]
    scorer = Scorer(["subject_dino", "subject_clip_i"], grounded_ctx)
    detector = grounded_ctx.services()["backbone:detector"]
    assert detector.config is not None and detector._model is None  # checked up front, loaded on first use
    before = dict(FORWARDS)
    results = scorer.score(samples, outputs)
    assert FORWARDS["detector"] - before.get("detector", 0) == 4  # one pass per image for both metrics
    for sample, output, prompt, result in zip(samples, outputs, prompts, results):
        expected, expected_flags = reference_crop(tiny_gdino, tiny_sam, output, prompt.lower().rstrip(".") + ".")
        assert result.error is None and result.flags == expected_flags
        crop_file = tmp_path / "run" / "crops" / f"{sample.id}.png"
        if expected is None:  # no crop: nothing saved, both metrics null
            assert not crop_file.exists() and result.metrics == {"subject_dino": None, "subject_clip_i": None}
            continue
        saved = Image.open(crop_file)
        assert saved.size == expected.size and saved.tobytes() == expected.tobytes(), sample.id
        assert result.metrics["subject_dino"] == pytest.approx(
            kit.cos(independent.dino_features(expected), independent.dino_features(photo)), abs=1e-5
        )
        assert result.metrics["subject_clip_i"] == pytest.approx(
            kit.cos(independent.clip_image(expected), independent.clip_image(photo)), abs=1e-5
        )
    boxes = [crop.box for crop in grounded_ctx.services()["subject_crops"].cache.memory.values()]
    assert len(boxes) == 4 and any(
        x0 < 0 or y0 < 0 or x1 > out.width or y1 > out.height  # not clipped
        for (x0, y0, x1, y1), out in zip(boxes, outputs)
    )
    used = {key: svc.describe() for key, svc in grounded_ctx.services().items() if hasattr(svc, "describe")}
    assert used["backbone:detector"]["id"] == str(tiny_gdino) and used["backbone:sam"]["device"] == "cpu"
    assert used["backbone:sam"]["revision"].startswith("sha256:") and used["backbone:detector"]["precision"] == "fp32"


def test_batches_give_what_single_images_give(tiny_gdino, tiny_sam):
    images = [noise(80, 48, 0), noise(30, 50, 1), noise(80, 48, 2), noise(30, 50, 3)]
    prompts = ["a dog.", "a red shiny backpack.", "cat.", "a vase."]
    detector = GroundingDino(str(tiny_gdino), "cpu", batch_size=3)
    batched = detector.detect(images, prompts)
    for (scores, boxes), img, prompt in zip(batched, images, prompts):
        [(one_scores, one_boxes)] = detector.detect([img], [prompt])
        assert scores.shape == (20,) and boxes.shape == (20, 4)
        np.testing.assert_allclose(scores, one_scores, atol=1e-5)
        np.testing.assert_allclose(boxes, one_boxes, atol=1e-5)
    sam = Sam(str(tiny_sam), "cpu", batch_size=3)
    boxes = [(5.0, 6.0, 40.5, 30.2), (-3.0, 2.0, 15.0, 60.0), (0.0, 0.0, 80.0, 48.0), (10.0, 10.0, 12.0, 11.0)]
    masks = sam.segment(images, boxes)
    for mask, img, box in zip(masks, images, boxes):
        assert mask.dtype == bool and mask.shape == (img.height, img.width)
        np.testing.assert_array_equal(mask, sam.segment([img], [box])[0])


def test_models_load_from_the_hub_cache_offline_and_name_what_is_missing(tmp_path, monkeypatch, tiny_gdino, tiny_sam):
    import huggingface_hub.constants as constants

    repo = tmp_path / "hub" / "models--tiny-org--gdino"
    shutil.copytree(tiny_gdino, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert GroundingDino("tiny-org/gdino", "cpu").fingerprint == f"tiny-org/gdino@{COMMIT}|fp32"

    with pytest.raises(MissingWeightsError) as err:
        Sam("tiny-org/absent", "cpu").prepare()
    text = str(err.value)
    assert "--sam-model tiny-org/absent" in text and "HF_HUB_OFFLINE" in text
    assert "mige-eval download --backbones --grounding" in text and "hf download tiny-org/absent" in text
    with pytest.raises(MissingWeightsError, match="does not exist"):
        GroundingDino(str(tmp_path / "nowhere"), "cpu").prepare()
    with pytest.raises(BackboneError, match="--detector-model .* is a 'sam' checkpoint.*grounding-dino"):
        GroundingDino(str(tiny_sam), "cpu").prepare()
    with pytest.raises(ValueError, match="half precision, which needs a CUDA device"):
        Sam(str(tiny_sam), "cpu", precision="fp16").prepare()
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        Sam(str(tiny_sam), "cpu", batch_size=0)


def test_models_follow_the_detector_preset_and_overrides():
    plain = ScoringContext(Presets.from_names(["gdino-tiny"]), ScoringOptions(device="cpu", batch_size=4))
    assert detector_for(plain).model_id == "IDEA-Research/grounding-dino-tiny" and detector_for(plain).batch_size == 4
    assert sam_for(plain).model_id == "facebook/sam-vit-huge" and detector_for(plain) is detector_for(plain)
    override = ScoringContext(Presets.from_names([]), ScoringOptions(detector_model="org/gd@v2", sam_model="org/sam"))
    detector = detector_for(override)
    assert (detector.model_id, detector.requested_revision, sam_for(override).model_id) == ("org/gd", "v2", "org/sam")
    assert detector.config is None  # nothing resolved before a metric asks


def test_download_grounding_fetches_swin_b_and_sam_vit_h(monkeypatch):
    calls = []

    def fake_fetch(model_id, revision=None, **_):
        calls.append((model_id, revision))
        return model_id

    monkeypatch.setattr(grounding, "fetch", fake_fetch)
    assert download_grounding() == ["IDEA-Research/grounding-dino-base", "facebook/sam-vit-huge"]
    download_grounding(["IDEA-Research/grounding-dino-tiny@abc"])
    assert calls[-1] == ("IDEA-Research/grounding-dino-tiny", "abc")
