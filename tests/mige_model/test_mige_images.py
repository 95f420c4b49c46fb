"""MIGE's image views and output conversion against hand computations of the documented transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mige_model.images import CLIP_MEAN, CLIP_STD, qformer_view, to_image, vae_view


def photo(size=(90, 60), seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8))


def test_qformer_view_is_a_bicubic_squash_with_clip_statistics():
    image = photo((90, 60))
    squashed = np.asarray(image.resize((28, 28), Image.Resampling.BICUBIC), np.float64) / 255.0
    expected = ((squashed - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)
    assert torch.allclose(qformer_view(image, 28).double(), torch.from_numpy(expected), atol=1e-6)


@pytest.mark.parametrize(
    "size, resized, box",
    [
        ((90, 60), (96, 64), (16, 0, 80, 64)),  # landscape: long side int(64·90/60) = 96, crop from x = 16
        ((61, 100), (64, 104), (0, 20, 64, 84)),  # portrait: int(64·100/61) = 104, top = round(40/2) = 20
        ((64, 64), (64, 64), (0, 0, 64, 64)),  # already the size: no resampling
    ],
)
def test_vae_view_resizes_the_shorter_side_then_centre_crops(size, resized, box):
    image = photo(size)
    expected = image if resized == size else image.resize(resized, Image.Resampling.BILINEAR)
    pixels = np.asarray(expected.crop(box), np.float64) / 255.0 * 2 - 1
    assert torch.allclose(vae_view(image, 64).double(), torch.from_numpy(pixels.transpose(2, 0, 1)), atol=1e-6)


def test_any_mode_is_taken_as_the_rgb_picture_a_viewer_shows():
    base = photo((40, 40))
    for converted in (base.convert("RGBA"), base.convert("L"), base.convert("P"), base.convert("CMYK")):
        assert torch.equal(vae_view(converted, 32), vae_view(converted.convert("RGB"), 32))
        assert torch.equal(qformer_view(converted, 28), qformer_view(converted.convert("RGB"), 28))
    with pytest.raises(TypeError, match="expected a PIL image, got ndarray"):
        vae_view(np.zeros((8, 8, 3)), 8)


def test_output_clamps_and_rounds_half_up_like_save_image():
    values = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]).reshape(1, 1, 6).expand(3, 1, 6)
    pixels = np.asarray(to_image(values))[0, :, 0]
    expected = [int(np.floor((min(max(v, -1), 1) + 1) / 2 * 255 + 0.5)) for v in (-2.0, -1.0, 0.0, 0.5, 1.0, 3.0)]
    assert pixels.tolist() == expected == [0, 0, 128, 191, 255, 255]


@pytest.mark.parametrize(
    "size, resized, offset",
    [
        ((90, 60), (64, 42), (0, 11)),  # landscape: short side int(64·60/90) = 42, top (64 − 42) // 2 = 11
        ((61, 100), (39, 64), (12, 0)),  # portrait: int(64·61/100) = 39, left (64 − 39) // 2 = 12
    ],
)
def test_vae_view_pad_letterboxes_like_the_released_subject_script(size, resized, offset):
    image = photo(size)
    inner = np.asarray(image.resize(resized, Image.Resampling.BICUBIC), np.float64) / 255.0 * 2 - 1
    expected = -np.ones((64, 64, 3))
    expected[offset[1] : offset[1] + resized[1], offset[0] : offset[0] + resized[0]] = inner
    view = vae_view(image, 64, fit="pad").double()
    assert torch.allclose(view, torch.from_numpy(expected.transpose(2, 0, 1)), atol=1e-6)
    square = photo((64, 64))
    assert torch.equal(vae_view(square, 64, fit="pad"), vae_view(square, 64))  # no resampling at the size
    with pytest.raises(ValueError, match="fit must be 'crop' or 'pad', got 'stretch'"):
        vae_view(image, 64, fit="stretch")


# --- pinned to the released scripts' numbers ------------------------------------------------------
# MIGE's views reuse mige-eval's CLIP statistics and crop geometry (mige_eval.metrics); these tests hold
# the released scripts' own numbers as literals, so a change made there for the metrics fails here
# instead of silently changing MIGE's inputs.

#: BLIP's eval processor (``BlipImageEvalProcessor``): CLIP's mean and std.
BLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
BLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def test_qformer_view_at_224_uses_blip_statistics():
    image = photo((640, 480), seed=3)
    squashed = np.asarray(image.resize((224, 224), Image.Resampling.BICUBIC), np.float64) / 255.0
    expected = ((squashed - np.array(BLIP_MEAN)) / np.array(BLIP_STD)).transpose(2, 0, 1)
    assert torch.allclose(qformer_view(image, 224).double(), torch.from_numpy(expected), atol=1e-5)
    white = qformer_view(Image.new("RGB", (50, 70), (255, 255, 255)), 224)
    assert white.shape == (3, 224, 224)
    assert [round(float(white[c, 0, 0]), 5) for c in range(3)] == [1.93034, 2.07488, 2.1459]  # (1 − m) / s


@pytest.mark.parametrize(
    "size, resized, box",
    [
        ((640, 480), (682, 512), (85, 0, 597, 512)),  # Resize(512): long side int(512·640/480) = 682; left round(85.0)
        ((480, 640), (512, 682), (0, 85, 512, 597)),
        ((515, 512), None, (2, 0, 514, 512)),  # short side already 512: no resampling; left round(1.5) = 2
        ((513, 512), None, (0, 0, 512, 512)),  # left round(0.5) = 0 (Python rounds half to even)
    ],
)
def test_vae_view_at_512_is_resize_then_centre_crop(size, resized, box):
    """``T.Resize(512)`` (bilinear) + ``T.CenterCrop(512)`` of the edit and MIGEBench scripts."""
    image = photo(size, seed=4)
    scaled = image if resized is None else image.resize(resized, Image.Resampling.BILINEAR)
    pixels = np.asarray(scaled.crop(box), np.float64) / 255.0 * 2 - 1
    assert torch.allclose(vae_view(image, 512).double(), torch.from_numpy(pixels.transpose(2, 0, 1)), atol=1e-6)


@pytest.mark.parametrize(
    "size, resized, offset",
    [
        ((640, 480), (512, 384), (0, 64)),  # resize_with_padding: short side int(512·480/640) = 384, top 64
        ((480, 640), (384, 512), (64, 0)),
        ((500, 333), (512, 340), (0, 86)),  # int(340.99) = 340, top (512 − 340) // 2 = 86
    ],
)
def test_vae_view_at_512_letterboxes_like_resize_with_padding(size, resized, offset):
    """The subject script's ``resize_with_padding(img, 512)``: bicubic, black borders, left/top floor."""
    image = photo(size, seed=5)
    inner = np.asarray(image.resize(resized, Image.Resampling.BICUBIC), np.float64) / 255.0 * 2 - 1
    expected = -np.ones((512, 512, 3))
    expected[offset[1] : offset[1] + resized[1], offset[0] : offset[0] + resized[0]] = inner
    assert torch.allclose(
        vae_view(image, 512, fit="pad").double(), torch.from_numpy(expected.transpose(2, 0, 1)), atol=1e-6
    )
