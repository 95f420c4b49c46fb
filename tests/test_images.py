"""The one decoding rule: modes, EXIF, corrupt and zero-size files."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mige_eval.images import ImageDecodeError, ImageMemo, ImageRef, decode, encode_png, to_rgb


def _bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_real_photo_decodes_to_rgb(dreambench_photos):
    img = ImageRef.from_path(dreambench_photos[0], "dog/00.jpg").load()
    assert img.mode == "RGB" and img.size[0] > 0
    with Image.open(dreambench_photos[0]) as ref:
        assert img.tobytes() == ref.convert("RGB").tobytes()


def test_sixteen_bit_maps_to_eight_bit_by_rounding():
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    img = decode(_bytes(Image.fromarray(values)), "16bit.png")
    assert img.mode == "RGB"
    expected = np.rint(values[0].astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(img)[0, :, 0], expected)


def test_alpha_is_dropped_not_composited():
    rgba = Image.new("RGBA", (2, 1), (200, 100, 50, 0))
    img = decode(_bytes(rgba), "rgba.png")
    assert img.getpixel((0, 0)) == (200, 100, 50)


def test_palette_and_grayscale_expand_like_pillow():
    pal = Image.new("P", (3, 3))
    pal.putpalette([10, 20, 30] * 256)
    assert decode(_bytes(pal), "p.png").getpixel((1, 1)) == (10, 20, 30)
    gray = Image.new("L", (3, 3), 77)
    assert decode(_bytes(gray), "l.png").getpixel((0, 0)) == (77, 77, 77)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (4, 2), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    decoded = decode(_bytes(img, "JPEG", exif=exif), "rotated.jpg")
    assert decoded.size == (2, 4)


def test_truncated_jpeg_names_the_file(dreambench_photos):
    data = dreambench_photos[0].read_bytes()
    with pytest.raises(ImageDecodeError, match="dog/00.jpg"):
        decode(data[: len(data) // 2], "dog/00.jpg")


def test_garbage_and_missing_file_are_decode_errors(tmp_path):
    with pytest.raises(ImageDecodeError, match="x.png"):
        decode(b"not an image", "x.png")
    with pytest.raises(ImageDecodeError, match="cannot read image .*missing.png"):
        ImageRef.from_path(tmp_path / "missing.png").load()


def test_zero_size_image_is_refused():
    with pytest.raises(ImageDecodeError, match="zero size"):
        to_rgb(Image.new("RGB", (0, 3)), "empty")


def test_png_encoding_is_lossless_and_deterministic(dreambench_photos):
    img = ImageRef.from_path(dreambench_photos[1]).load().resize((64, 64))
    data = encode_png(img)
    assert data == encode_png(img)
    assert Image.open(io.BytesIO(data)).tobytes() == img.tobytes()


def test_memo_decodes_each_label_once():
    calls = []

    def read():
        calls.append(1)
        return _bytes(Image.new("RGB", (2, 2)))

    memo = ImageMemo(size=2)
    ref = ImageRef("a.png", read)
    assert memo.load(ref) is memo.load(ref)
    assert len(calls) == 1
