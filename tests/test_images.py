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


#: What a viewer shows for a stored H×W×3 array, per EXIF orientation, written from the tag's definition
#: (where the stored row 0 and column 0 end up), not from Pillow: 1 top/left, 2 top/right, 3 bottom/right,
#: 4 bottom/left, 5 left/top, 6 right/top, 7 right/bottom, 8 left/bottom.
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),  # 90° clockwise
    7: lambda a: np.rot90(a, -1)[::-1],
    8: lambda a: np.rot90(a, 1),  # 90° counter-clockwise
}


def _asymmetric(block: int) -> np.ndarray:
    """2×3 blocks of six distinct colours (3 wide, 2 high): no flip or rotation maps it onto itself."""
    colours = np.array(
        [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(255, 255, 0), (0, 255, 255), (255, 0, 255)]], dtype=np.uint8
    )
    return np.kron(colours, np.ones((block, block, 1), dtype=np.uint8))


def _with_orientation(array: np.ndarray, orientation: int, fmt: str, **kw) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _bytes(Image.fromarray(array), fmt, exif=exif, **kw)


def test_the_reference_orientations_are_eight_different_images():
    stored = _asymmetric(1)
    shown = {k: f(stored).tobytes() + bytes(f(stored).shape[:2]) for k, f in DISPLAYED.items()}
    assert len(set(shown.values())) == 8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_pixel_for_pixel(orientation):
    stored = _asymmetric(1)
    decoded = decode(_with_orientation(stored, orientation, "PNG"), f"o{orientation}.png")
    np.testing.assert_array_equal(np.asarray(decoded), DISPLAYED[orientation](stored))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_a_jpeg_photo(orientation):
    stored = _asymmetric(16)  # 16-pixel blocks on JPEG's 8×8 grid: colours survive compression within a few levels
    data = _with_orientation(stored, orientation, "JPEG", quality=95, subsampling=0)
    decoded = np.asarray(decode(data, f"o{orientation}.jpg")).astype(int)
    expected = DISPLAYED[orientation](stored).astype(int)
    assert decoded.shape == expected.shape
    assert np.abs(decoded - expected).max() <= 16


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
