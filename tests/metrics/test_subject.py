"""Subject crops pixel for pixel with an injected detector and segmenter, the crop cache, and the subject metrics.

The fakes stand in for GroundingDINO and SAM through the same interface (and, for the metric tests,
the same context services) the real models use; test_grounding.py runs the real architectures.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mige_eval.images import ImageRef, encode_png
from mige_eval.metrics.base import ScoreItem
from mige_eval.metrics.crops import (
    CropCache,
    SubjectExtractor,
    best_detection,
    crop_rect,
    extract_subjects,
    normalize_prompt,
    pixel_box,
    sam_box,
)
from mige_eval.scoring import Scorer
from mige_eval.summary import summarize

W, H = 6, 4


def pixel(x: int, y: int) -> list[int]:
    """The test image's pixel at (x, y): never black, different everywhere."""
    return [x + 1, y + 1, 50]


def image(w: int = W, h: int = H) -> Image.Image:
    return Image.fromarray(np.array([[pixel(x, y) for x in range(w)] for y in range(h)], np.uint8), "RGB")


def detections(*pairs) -> tuple[np.ndarray, np.ndarray]:
    """(score, cxcywh) pairs → the detector's (scores, boxes) for one image."""
    return np.array([s for s, _ in pairs], np.float32), np.array([b for _, b in pairs], np.float32)


class FakeDetector:
    """Answers each prompt with fixed detections; records its calls. Quacks like grounding.GroundingDino."""

    fingerprint = "fake-detector"

    def __init__(self, by_prompt):
        self.by_prompt, self.calls = by_prompt, []

    def prepare(self):
        return self

    def detect(self, images, prompts):
        self.calls.append(list(prompts))
        return [self.by_prompt[p] for p in prompts]


class FakeSegmenter:
    """Returns ``mask(image, box)`` per image (default: everything); records the boxes it was given."""

    fingerprint = "fake-sam"

    def __init__(self, mask=None):
        self.mask = mask or (lambda img, box: np.ones((img.height, img.width), bool))
        self.calls = []

    def prepare(self):
        return self

    def segment(self, images, boxes):
        self.calls.append(list(boxes))
        return [self.mask(img, box) for img, box in zip(images, boxes)]


def test_prompt_is_normalised_as_groundingdino_does():
    assert normalize_prompt("  A Signboard ") == "a signboard."
    assert normalize_prompt("a red dog.") == "a red dog."
    for empty in (None, "", "   ", " . "):
        assert normalize_prompt(empty) is None


def test_highest_score_above_the_threshold_wins_first_on_a_tie():
    scores, boxes = detections((0.4, [0.1] * 4), (0.9, [0.2] * 4), (0.9, [0.3] * 4), (0.2, [0.4] * 4))
    score, box = best_detection(scores, boxes)
    assert score == pytest.approx(0.9) and box.tolist() == pytest.approx([0.2] * 4)
    assert best_detection(*detections((0.30, [0.1] * 4), (0.1, [0.2] * 4))) is None  # strictly above 0.30


def test_box_is_converted_unclipped_and_rounded_half_to_even():
    assert pixel_box(np.array([0.5, 0.5, 0.5, 0.5]), (W, H)) == (1.5, 1.0, 4.5, 3.0)
    x0, y0, x1, y1 = pixel_box(np.array([0.9, 0.25, 0.5, 1.0]), (W, H))
    assert (y0, y1) == (-1.0, 3.0) and x1 > W  # not clipped
    assert crop_rect((1.5, 1.0, 4.5, 3.0)) == (2, 1, 4, 3)  # round(1.5) = 2, round(4.5) = 4
    assert crop_rect((2.6, 1.0, 2.9, 3.0)) is None  # rounds to zero width
    # SAM's prompt comes from the normalised box rounded to 4 decimals, the crop from the unrounded one.
    box = np.array([0.123456, 0.5, 0.2, 0.2], np.float32)
    assert pixel_box(box, (1000, 1000))[0] == pytest.approx(23.456, abs=1e-3)
    assert sam_box(box, (1000, 1000))[0] == pytest.approx(23.5, abs=1e-4)


def test_crop_is_the_masked_black_background_box_crop_pixel_for_pixel():
    mask = np.zeros((H, W), bool)
    mask[1, 2] = mask[2, 3] = mask[0, 0] = True  # (0, 0) lies outside the box
    det = FakeDetector({"a dog.": detections((0.2, [0.5, 0.5, 1.0, 1.0]), (0.8, [0.5, 0.5, 0.5, 0.5]))})
    seg = FakeSegmenter(lambda img, box: mask)
    [crop] = extract_subjects([image()], ["a dog."], ["k"], det, seg)
    assert seg.calls == [[(1.5, 1.0, 4.5, 3.0)]]  # SAM gets the unrounded pixel box of the 0.8 detection
    assert crop.box == (1.5, 1.0, 4.5, 3.0) and crop.score == pytest.approx(0.8) and crop.flags == ()
    expected = [[pixel(2, 1), [0, 0, 0]], [[0, 0, 0], pixel(3, 2)]]
    assert np.asarray(crop.image).tolist() == expected


def test_box_past_the_image_edge_comes_out_black_outside_as_pillow_crop_gives_it():
    det = FakeDetector({"a dog.": detections((0.9, [0.9, 0.25, 0.5, 1.0]))})
    [crop] = extract_subjects([image()], ["a dog."], ["k"], det, FakeSegmenter())
    black = [0, 0, 0]
    expected = [
        [black, black, black],  # row y = -1, above the image
        [pixel(4, 0), pixel(5, 0), black],  # column x = 6 lies right of the image
        [pixel(4, 1), pixel(5, 1), black],
        [pixel(4, 2), pixel(5, 2), black],
    ]
    assert crop.image.size == (3, 4) and np.asarray(crop.image).tolist() == expected


def test_no_box_above_threshold_gives_the_whole_image_and_a_sub_pixel_box_no_crop():
    det = FakeDetector(
        {"a dog.": detections((0.3, [0.5] * 4), (0.05, [0.5] * 4)), "a cat.": detections((0.31, [0.5, 0.5, 0.05, 0.5]))}
    )  # 0.3 px wide: rounds to nothing
    seg = FakeSegmenter()
    missed, empty = extract_subjects([image(), image()], ["a dog.", "a cat."], ["a", "b"], det, seg)
    assert missed.flags == ("no_detection",) and missed.box is None and missed.image.tobytes() == image().tobytes()
    assert empty.flags == ("empty_crop",) and empty.image is None and empty.score == pytest.approx(0.31)
    assert seg.calls == []  # SAM runs only for boxes that give a crop


def test_a_mask_of_the_wrong_size_is_refused():
    det = FakeDetector({"a dog.": detections((0.9, [0.5] * 4))})
    with pytest.raises(ValueError, match="3x2 mask for a 6x4 image"):
        extract_subjects([image()], ["a dog."], ["k"], det, FakeSegmenter(lambda img, box: np.ones((2, 3), bool)))


def items_for(kit, objects, output=None):
    return [
        ScoreItem(kit.sample(f"s/{n}", task="subject_add", object=obj), output or image())
        for n, obj in enumerate(objects)
    ]


def test_extractor_saves_crops_shares_them_and_hits_the_cache_on_rerun(tmp_path, kit):
    det = FakeDetector(
        {
            "a dog.": detections((0.8, [0.5, 0.5, 0.5, 0.5])),
            "a cat.": detections((0.1, [0.5] * 4)),
            "a vase.": detections((0.9, [0.5, 0.5, 0.01, 0.5])),
        }
    )
    seg = FakeSegmenter()
    first = SubjectExtractor(det, seg, CropCache(tmp_path / "cache"), tmp_path / "run")
    items = items_for(kit, ["A dog", "a cat", None, "a dog.", "a vase"])
    crops = first.crops(items)
    assert crops[2] is None and crops[0] is crops[3]  # same output and prompt: extracted once
    assert crops[4].image is None and crops[4].flags == ("empty_crop",)
    assert det.calls == [["a dog.", "a cat.", "a vase."]] and len(seg.calls) == 1
    assert first.crops(items) == crops and len(det.calls) == 1  # the second metric of an item reuses its crop
    saved = sorted(p.name for p in (tmp_path / "run" / "crops").iterdir())
    assert len(saved) == 3 and all(n.startswith("s_") for n in saved)  # "s/0" is not a file name: safe_id
    assert not any(n.startswith("s_4") for n in saved)  # an empty crop has no file
    assert Image.open(tmp_path / "run" / "crops" / saved[0]).size == (2, 2)

    again = SubjectExtractor(FakeDetector({}), FakeSegmenter(), CropCache(tmp_path / "cache"), tmp_path / "run2")
    cached = again.crops(items_for(kit, ["A dog", "a cat", None, "a dog.", "a vase"]))
    assert again.detector.calls == [] and again.segmenter.calls == []
    assert [(c.key, c.box, c.score, c.flags, c.image and c.image.tobytes()) for c in cached if c] == [
        (c.key, c.box, c.score, c.flags, c.image and c.image.tobytes()) for c in crops if c
    ]
    other = SubjectExtractor(det, seg, CropCache(tmp_path / "cache")).crops(items_for(kit, ["a dog"], image(5, 4)))
    assert det.calls[-1] == ["a dog."] and other[0].key != crops[0].key  # other pixels, other crop


def test_damaged_cache_entry_is_recomputed_and_no_cache_writes_nothing(tmp_path, kit):
    det = FakeDetector({"a dog.": detections((0.8, [0.5] * 4))})
    cache = CropCache(tmp_path / "cache")
    crop = SubjectExtractor(det, FakeSegmenter(), cache).crops(items_for(kit, ["a dog"]))[0]
    stored = cache.path(crop.key).read_bytes()
    for calls, damaged in enumerate([b"not a png", stored[:-20], stored[:-24] + bytes(4) + stored[-20:]], 2):
        cache.path(crop.key).write_bytes(damaged)  # garbage, truncated, corrupted pixel data (IDAT before IEND)
        fresh = SubjectExtractor(det, FakeSegmenter(), CropCache(tmp_path / "cache")).crops(items_for(kit, ["a dog"]))
        assert len(det.calls) == calls and fresh[0].png == crop.png == stored
    assert CropCache(tmp_path / "cache").get(crop.key) is not None  # replaced
    before = sorted(tmp_path.rglob("*"))
    memory_only = CropCache(None)
    other = SubjectExtractor(det, FakeSegmenter(), memory_only).crops(items_for(kit, ["a dog"], image(5, 4)))[0]
    assert memory_only.get(other.key) is other and sorted(tmp_path.rglob("*")) == before


# --- the metrics, on the tiny CLIP and DINO backbones with the fakes as the run's detector and SAM -------------


def photo_ref(seed: int) -> ImageRef:
    pixels = np.random.RandomState(seed).randint(0, 256, (40, 56, 3), np.uint8)
    return ImageRef.from_bytes(encode_png(Image.fromarray(pixels, "RGB")), f"entity-{seed}.png")


def subject_ctx(make_ctx, tmp_path, det, seg, **options):
    ctx = make_ctx(**options)
    ctx.run_dir = tmp_path / "run"
    ctx.service("backbone:detector", lambda: det)
    ctx.service("backbone:sam", lambda: seg)
    return ctx


def test_subject_metrics_match_an_independent_computation_and_flag_each_case(make_ctx, tmp_path, kit, independent):
    det = FakeDetector(
        {
            "a dog.": detections((0.8, [0.5, 0.5, 0.5, 0.5])),
            "a cat.": detections((0.1, [0.5] * 4)),
            "a vase.": detections((0.9, [0.5, 0.5, 0.001, 0.5])),
        }
    )
    ctx = subject_ctx(make_ctx, tmp_path, det, FakeSegmenter())
    output = Image.fromarray(np.random.RandomState(7).randint(0, 256, (48, 64, 3), np.uint8), "RGB")
    samples = [
        kit.sample(f"s{n}", task="subject_add", subset="add", object=obj, subject_photo=photo_ref(n))
        for n, obj in enumerate(["a dog", "a cat", "", "a vase"])
    ]
    results = Scorer(["subject_dino", "subject_clip_i"], ctx).score(samples, [output] * 4)
    assert det.calls == [["a dog.", "a cat.", "a vase."]]  # one detector pass for both metrics

    crop = output.crop((16, 12, 48, 36))  # box (0.5, 0.5, 0.5, 0.5) of 64x48, full mask
    for n, seen in enumerate([crop, output]):
        photo = photo_ref(n).load()
        assert results[n].metrics["subject_dino"] == pytest.approx(
            kit.cos(independent.dino_features(seen), independent.dino_features(photo)), abs=1e-5
        )
        assert results[n].metrics["subject_clip_i"] == pytest.approx(
            kit.cos(independent.clip_image(seen), independent.clip_image(photo)), abs=1e-5
        )
    assert Image.open(tmp_path / "run" / "crops" / "s0.png").tobytes() == crop.tobytes()
    assert results[0].flags == [] and results[1].flags == ["no_detection"]
    assert results[2].metrics == {"subject_dino": None, "subject_clip_i": None}
    assert results[2].flags == ["no_object_prompt"] and not (tmp_path / "run" / "crops" / "s2.png").exists()
    assert results[3].metrics == {"subject_dino": None, "subject_clip_i": None} and results[3].flags == ["empty_crop"]

    records = [
        {"id": s.id, "subset": s.subset, "metrics": r.metrics, "flags": r.flags, "error": r.error}
        for s, r in zip(samples, results)
    ]
    notes = summarize(records, bench="migebench", model="m", metrics=["subject_dino"])["notes"]
    assert any(n.startswith("no_detection: 1 samples (add 1)") for n in notes)
    assert any(n.startswith("no_object_prompt: 1 samples") for n in notes)
    assert any(n.startswith("subject_dino: null for 2 samples") for n in notes)


def test_sample_without_subject_photo_fails_alone_and_cached_crops_skip_the_models(make_ctx, tmp_path, kit):
    det = FakeDetector({"a dog.": detections((0.8, [0.5] * 4))})
    samples = [
        kit.sample("ok", task="subject_add", object="a dog", subject_photo=photo_ref(0)),
        kit.sample("bad", task="subject_add", object="a dog"),
    ]
    results = Scorer(["subject_dino"], subject_ctx(make_ctx, tmp_path, det, FakeSegmenter())).score(
        samples, [image(), image()]
    )
    assert results[0].error is None and "sample bad has no subject photo for subject_dino" in results[1].error

    rerun = FakeDetector({})
    again = Scorer(["subject_dino"], subject_ctx(make_ctx, tmp_path, rerun, FakeSegmenter())).score(
        samples[:1], [image()]
    )
    assert rerun.calls == [] and again[0].metrics == results[0].metrics
