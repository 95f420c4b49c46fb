"""l1 and l2 (docs/metrics.md, l1 and l2) against a hand-written numpy computation on real DreamBench photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mige_eval.images import ImageRef
from mige_eval.metrics.base import ScoringContext
from mige_eval.metrics.pixel import l1_distance, l2_distance
from mige_eval.presets import Presets
from mige_eval.scoring import Scorer


def independent(output: Image.Image, reference: Image.Image, crop_reference: bool = False) -> tuple[float, float]:
    """MagicBrush's recipe written out: (crop the reference,) bicubic-resize the output to it, mean |d| and d²."""
    if crop_reference:
        side = min(reference.size)
        left, top = round((reference.width - side) / 2), round((reference.height - side) / 2)
        reference = reference.crop((left, top, left + side, top + side))
    if output.size != reference.size:
        output = output.resize(reference.size, Image.Resampling.BICUBIC)
    diff = np.asarray(output, np.float64) / 255.0 - np.asarray(reference, np.float64) / 255.0
    return float(np.abs(diff).mean()), float((diff**2).mean())


def as_ref(img: Image.Image, label: str) -> ImageRef:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return ImageRef.from_bytes(buf.getvalue(), label)


def scores(presets, samples, outputs):
    return Scorer(["l1", "l2"], ScoringContext(Presets.from_names(presets))).score(samples, outputs)


def test_l1_l2_match_the_hand_written_computation(dreambench_photos, kit):
    refs = [kit.ref_of(p) for p in dreambench_photos[:3]]
    outputs = [
        kit.rgb(dreambench_photos[3]).resize((512, 512)),
        kit.rgb(dreambench_photos[4]),
        kit.rgb(dreambench_photos[0]).resize((333, 517)),
    ]
    samples = [kit.sample(f"s{i}", references=(r,)) for i, r in enumerate(refs)]
    for res, out, path in zip(scores([], samples, outputs), outputs, dreambench_photos):
        l1, l2 = independent(out, kit.rgb(path))
        assert res.error is None
        assert res.metrics["l1"] == pytest.approx(l1, abs=1e-12) and res.metrics["l2"] == pytest.approx(l2, abs=1e-12)
        assert 0 < l2 < l1 < 1  # values in [0, 1]: MSE, not RMSE, not a sum


def test_output_is_resized_to_the_reference_size(dreambench_photos, kit):
    reference = kit.rgb(dreambench_photos[1]).resize((400, 300))
    small = reference.resize((200, 150), Image.Resampling.BICUBIC)
    l1 = l1_distance(small, reference)
    assert l1 == pytest.approx(independent(small, reference)[0], abs=1e-12)
    assert 0 < l1 < 0.1  # compared on the reference's 400x300 grid, a downscaled copy is close
    assert l1_distance(reference, reference) == 0.0 and l2_distance(reference, reference) == 0.0


def test_center_crop_ref_crops_a_non_square_reference_first(dreambench_photos, kit):
    reference = kit.rgb(dreambench_photos[2]).resize((641, 427))
    output = kit.rgb(dreambench_photos[2]).resize((512, 512))
    ref = as_ref(reference, "wide.png")
    res = scores(["center-crop-ref"], [kit.sample(references=(ref,))], [output])[0]
    l1, l2 = independent(output, reference, crop_reference=True)
    assert res.metrics["l1"] == pytest.approx(l1, abs=1e-12) and res.metrics["l2"] == pytest.approx(l2, abs=1e-12)
    stretched = scores([], [kit.sample(references=(ref,))], [output])[0]
    assert stretched.metrics["l1"] == pytest.approx(independent(output, reference)[0], abs=1e-12)
    assert stretched.metrics["l1"] != pytest.approx(res.metrics["l1"], abs=1e-6)


def test_identical_images_give_zero_and_bad_inputs_fail_clearly(dreambench_photos, kit):
    ref = kit.ref_of(dreambench_photos[0])
    two = (ref, kit.ref_of(dreambench_photos[1]))
    results = scores(
        [],
        [kit.sample("same", references=(ref,)), kit.sample("two", references=two)],
        [kit.rgb(dreambench_photos[0])] * 2,
    )
    assert results[0].metrics == {"l1": 0.0, "l2": 0.0}
    assert "exactly one reference; sample two has 2" in results[1].error
    with pytest.raises(ValueError, match="unknown pixel geometry"):
        l1_distance(kit.rgb(dreambench_photos[0]), kit.rgb(dreambench_photos[0]), "crop")
