"""Image references and the one decoding rule every stage uses.

Decoding rule (docs/design.md and docs/metrics.md, image decoding), applied to every input, reference and output:

1. the file is decoded completely (a truncated or corrupt file raises :class:`ImageDecodeError`
   naming it), and a zero-size image or one over :data:`MAX_PIXELS` is refused;
2. the EXIF orientation is applied;
3. 16/32-bit integer images (``I;16``, ``I``) are mapped to 8 bits by ``round(v · 255 / 65535)``,
   clipped; float images (``F``) are clipped to [0, 255] and rounded;
4. every other mode goes through Pillow's ``convert("RGB")``: palette and grayscale are expanded and
   an alpha channel is dropped, not composited, which is what the published evaluation scripts'
   ``Image.open(p).convert("RGB")`` does.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: Larger images are refused rather than decoded (a 16k × 16k photo is 256 M pixels).
MAX_PIXELS = 256 * 1024 * 1024

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: File suffix an encoded image is stored under, by the format Pillow reads from its bytes (MPO is a
#: JPEG with extra pictures). Outputs in these formats are stored byte for byte.
FORMAT_SUFFIXES = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
}


class ImageDecodeError(ValueError):
    """An image file that cannot be used; the message names the file."""


@dataclass(frozen=True, eq=False)
class ImageRef:
    """An image a sample points at, readable on demand.

    ``label`` is what records and errors show: the path relative to the dataset root, or a
    ``file#row/field`` locator for images stored inside a dataset file. ``read`` returns the encoded
    bytes; it runs only when a stage needs the image.
    """

    label: str
    read: Callable[[], bytes]

    @classmethod
    def from_path(cls, path: Path, label: str | None = None) -> ImageRef:
        path = Path(path)
        return cls(label or str(path), path.read_bytes)

    @classmethod
    def from_bytes(cls, data: bytes, label: str) -> ImageRef:
        return cls(label, lambda: data)

    def load(self) -> Image.Image:
        """Decode to 8-bit RGB by the module's rule."""
        try:
            data = self.read()
        except OSError as exc:
            raise ImageDecodeError(f"cannot read image {self.label}: {exc}") from exc
        return decode(data, self.label)

    def __repr__(self) -> str:
        return f"ImageRef({self.label!r})"


def decode(data: bytes, label: str) -> Image.Image:
    """Decode encoded image bytes to an 8-bit RGB image (rule in the module docstring)."""
    return decode_with_format(data, label)[0]


def decode_with_format(data: bytes, label: str) -> tuple[Image.Image, str]:
    """:func:`decode`, and the format Pillow read (``PNG``, ``JPEG``, ...)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ImageDecodeError(f"image {label} is {img.width}x{img.height}, over the {MAX_PIXELS} pixel limit")
            fmt = img.format or ""
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb(img, label), fmt
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"cannot decode image {label}: {exc}") from exc


def to_rgb(img: Image.Image, label: str = "image") -> Image.Image:
    """Convert an already decoded image to 8-bit RGB by the module's rule."""
    if img.width == 0 or img.height == 0:
        raise ImageDecodeError(f"image {label} has zero size ({img.width}x{img.height})")
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):
        values = np.asarray(img, dtype=np.float64)
        gray = np.clip(np.rint(values * 255.0 / 65535.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if img.mode == "F":
        gray = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    return img.convert("RGB")


@dataclass(frozen=True, eq=False)
class EncodedImage:
    """An output that already exists as an encoded file (another tool's output folder, a dataset row).

    The run directory keeps ``data`` byte for byte (:meth:`mige_eval.store.RunStore.save_output`), so
    nothing is lost or spent on re-encoding; the pixels are decoded only to score them.
    """

    data: bytes
    label: str

    def open(self) -> tuple[Image.Image, str]:
        """The pixels (by the module's rule) and the suffix to store the bytes under, named by the
        bytes' format, not by the source's file name; ``""`` for a format no browser shows."""
        img, fmt = decode_with_format(self.data, self.label)
        return img, FORMAT_SUFFIXES.get(fmt, "")


def check_output(img: object, label: str) -> Image.Image:
    """Validate an adapter's output and bring it to RGB."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"{label}: expected a PIL image, got {type(img).__name__}")
    return to_rgb(img, label)


def load_path(path: Path) -> Image.Image:
    """Decode a file on disk by the module's rule."""
    return ImageRef.from_path(path).load()


def encode_png(img: Image.Image) -> bytes:
    """Lossless PNG bytes; deterministic for the same pixels."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def content_hash(data: bytes) -> str:
    """sha256 of encoded bytes: the identity of an image in caches and manifests."""
    return hashlib.sha256(data).hexdigest()


def pixels_hash(img: Image.Image) -> str:
    """sha256 over the mode, size and raw pixels of a decoded image."""
    h = hashlib.sha256(f"{img.mode}:{img.width}x{img.height}:".encode())
    h.update(img.tobytes())
    return h.hexdigest()


class ImageMemo:
    """Decoded images kept while in use (LRU by label): DreamBench gives one subject's photos to 25 samples."""

    def __init__(self, size: int = 64):
        self._items: OrderedDict[str, Image.Image] = OrderedDict()
        self._size = size

    def load(self, ref: ImageRef) -> Image.Image:
        if ref.label in self._items:
            self._items.move_to_end(ref.label)
            return self._items[ref.label]
        img = ref.load()
        self._items[ref.label] = img
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return img
