"""Subject crops: find the instructed subject in an output and cut it out as MIGE did.

The procedure is docs/metrics.md's (``subject_dino`` and ``subject_clip_i``).

The procedure is pure functions over an injected detector and segmenter (any objects with the
``detect`` / ``segment`` of :mod:`mige_eval.metrics.grounding`), so it is tested pixel for pixel:

1. prompt = the sample's ``object``, lower-cased, stripped, "." appended (:func:`normalize_prompt`);
   a missing or empty one gives no crop (the subject metrics are ``null``, flag ``no_object_prompt``);
2. the single highest box score above 0.30 wins (first query on a tie); none → the whole output
   (flag ``no_detection``);
3. its normalised (cx, cy, w, h) becomes pixel xyxy — corners first, then × (W, H, W, H), in
   float32, as MIGE's extraction script computes it — **not** clipped to the image;
4. SAM gives one mask at the output's resolution for the same box computed from the normalised box
   rounded to 4 decimals (the script rounds before prompting SAM); pixels outside it become black;
5. the result is cropped to the box rounded by Python ``round``, with Pillow's ``crop``, which fills
   what lies outside the image with black. A box that rounds to zero width or height (possible on a
   tiny output) has no crop — the script's save failed there and it wrote no entity image — so the
   subject metrics are ``null`` (flag ``empty_crop``).

:class:`SubjectExtractor` runs it for a batch of score items: crops are shared by the metrics of an
item (``ScoreItem.derived``), cached across runs by (procedure, detector, SAM, prompt, output pixels)
as PNG files under ``<cache dir>/crops/``, and saved for inspection as ``crops/<sample id>.png`` in
the run directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image, PngImagePlugin

from mige_eval.images import ImageRef, pixels_hash, to_rgb
from mige_eval.metrics.features import default_cache_dir
from mige_eval.metrics.grounding import detector_for, sam_for
from mige_eval.store import atomic_write_bytes, safe_id, write_if_changed

if TYPE_CHECKING:
    from mige_eval.metrics.base import ScoreItem, ScoringContext

BOX_THRESHOLD = 0.30
#: Version of the crop procedure; bump it when the procedure changes so cached crops go unused.
PROCEDURE = "grounded-sam-v1"
#: ``ScoreItem.derived`` key under which an item's crop (or ``None``: no object prompt) is shared.
DERIVED = "subject_crop"
_PNG_TEXT = "mige-eval-crop"

Box = tuple[float, float, float, float]


class Detector(Protocol):
    def detect(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: box scores (Q,) and normalised cx, cy, w, h boxes (Q×4)."""


class Segmenter(Protocol):
    def segment(self, images: Sequence[Image.Image], boxes: Sequence[Box]) -> list[np.ndarray]:
        """Per image: a boolean H×W mask at the image's resolution for its pixel xyxy box."""


@dataclass(frozen=True)
class SubjectCrop:
    """A cut-out subject, kept as the PNG that is cached and saved (box, score and flags in a text chunk).

    ``png`` is ``None`` when there is no crop (``empty_crop``); ``box`` (pixel xyxy) and ``score`` are
    ``None`` when nothing was detected and the crop is the whole output. The pixels are decoded only
    when asked for (:attr:`image`, or by the feature store through :attr:`ref` on a feature-cache miss).
    """

    key: str
    png: bytes | None
    box: Box | None = None
    score: float | None = None
    flags: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        key: str,
        image: Image.Image | None,
        box: Box | None = None,
        score: float | None = None,
        flags: tuple[str, ...] = (),
    ) -> SubjectCrop:
        crop = cls(key, None, box, score, flags)
        return crop if image is None else replace(crop, png=crop._encode(image))

    @classmethod
    def parse(cls, key: str, data: bytes) -> SubjectCrop:
        """A crop from its PNG bytes: chunks checked, metadata read, pixels left encoded."""
        with Image.open(io.BytesIO(data)) as img:
            info = json.loads(img.info[_PNG_TEXT])
            img.verify()
        flags = tuple(info["flags"])
        box = tuple(info["box"]) if info["box"] else None
        return cls(key, None if "empty_crop" in flags else data, box, info["score"], flags)

    def _encode(self, image: Image.Image) -> bytes:
        meta = PngImagePlugin.PngInfo()
        meta.add_text(_PNG_TEXT, json.dumps({"box": self.box, "score": self.score, "flags": list(self.flags)}))
        buf = io.BytesIO()
        image.save(buf, format="PNG", pnginfo=meta, compress_level=1)
        return buf.getvalue()

    def stored(self) -> bytes:
        """What the cache keeps: the PNG, or for an empty crop a 1×1 placeholder carrying the flags."""
        return self.png or self._encode(Image.new("RGB", (1, 1)))

    @property
    def ref(self) -> ImageRef | None:
        return None if self.png is None else ImageRef.from_bytes(self.png, f"crop-{self.key[:16]}.png")

    @property
    def image(self) -> Image.Image | None:
        return None if self.ref is None else self.ref.load()


def normalize_prompt(text: str | None) -> str | None:
    """GroundingDINO's caption rule: lower-case, strip, end with "."; ``None`` for a missing or blank field."""
    if text is None or not text.strip(" .\t\n"):
        return None
    text = text.lower().strip()
    return text if text.endswith(".") else text + "."


def best_detection(scores: np.ndarray, boxes: np.ndarray, threshold: float = BOX_THRESHOLD):
    """(score, normalised cxcywh box) of the highest score above ``threshold`` (first on a tie), or ``None``."""
    scores = np.asarray(scores, np.float32)
    if not (scores > threshold).any():
        return None
    best = int(np.argmax(scores))
    return float(scores[best]), np.asarray(boxes, np.float32)[best]


def pixel_box(cxcywh: np.ndarray, size: tuple[int, int]) -> Box:
    """Normalised (cx, cy, w, h) → pixel (x0, y0, x1, y1) of an image of ``size`` (w, h), unclipped.

    In float32 and in MIGE's order: the corners cx ± w/2, cy ± h/2 first, then × (W, H, W, H).
    """
    cx, cy, bw, bh = np.asarray(cxcywh, np.float32)
    half = np.float32(0.5)
    corners = np.array([cx - half * bw, cy - half * bh, cx + half * bw, cy + half * bh], np.float32)
    return tuple(float(v) for v in corners * np.array([*size, *size], np.float32))


def sam_box(cxcywh: np.ndarray, size: tuple[int, int]) -> Box:
    """The box SAM is prompted with: MIGE's script rounds the normalised box to 4 decimals first."""
    return pixel_box(np.round(np.asarray(cxcywh, np.float32), 4), size)


def crop_rect(box: Box) -> tuple[int, int, int, int] | None:
    """The box rounded by Python ``round`` (half to even); ``None`` when it holds no pixel."""
    x0, y0, x1, y1 = (round(v) for v in box)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def masked_crop(image: Image.Image, mask: np.ndarray, rect: tuple[int, int, int, int]) -> Image.Image:
    """Black outside ``mask``, then Pillow's crop to ``rect`` (parts outside the image come out black).

    Done in the other order — crop the image and the mask, then black out — which gives the same
    pixels and touches only the box.
    """
    if mask.shape != (image.height, image.width):
        raise ValueError(
            f"segmenter returned a {mask.shape[1]}x{mask.shape[0]} mask for a {image.width}x{image.height} image"
        )
    region = np.asarray(image.crop(rect))
    keep = np.asarray(Image.fromarray(np.asarray(mask, np.uint8) * np.uint8(255), "L").crop(rect)) > 0
    return Image.fromarray(np.where(keep[..., None], region, np.uint8(0)), "RGB")


def extract_subjects(
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    keys: Sequence[str],
    detector: Detector,
    segmenter: Segmenter,
    threshold: float = BOX_THRESHOLD,
) -> list[SubjectCrop]:
    """Crops of RGB ``images`` for normalised ``prompts``: one detector call, one segmenter call for the hits."""
    crops: list[SubjectCrop | None] = [None] * len(images)
    hits: list[tuple[int, np.ndarray, float, tuple[int, int, int, int]]] = []
    for i, (image, detections) in enumerate(zip(images, detector.detect(images, prompts))):
        found = best_detection(*detections, threshold=threshold)
        if found is None:
            crops[i] = SubjectCrop.of(keys[i], image, flags=("no_detection",))
            continue
        score, cxcywh = found
        rect = crop_rect(pixel_box(cxcywh, image.size))
        if rect is None:
            crops[i] = SubjectCrop.of(keys[i], None, pixel_box(cxcywh, image.size), score, flags=("empty_crop",))
        else:
            hits.append((i, cxcywh, score, rect))
    if hits:
        masks = segmenter.segment([images[i] for i, *_ in hits], [sam_box(c, images[i].size) for i, c, *_ in hits])
        for (i, cxcywh, score, rect), mask in zip(hits, masks):
            crops[i] = SubjectCrop.of(
                keys[i], masked_crop(images[i], mask, rect), pixel_box(cxcywh, images[i].size), score
            )
    return crops


class CropCache:
    """Crops by key: an in-memory LRU and, given a folder, their PNG files (:meth:`SubjectCrop.stored`)."""

    def __init__(self, folder: Path | None, memory_items: int = 256):
        self.folder, self.memory_items = folder, memory_items
        self.memory: OrderedDict[str, SubjectCrop] = OrderedDict()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.png"

    def get(self, key: str) -> SubjectCrop | None:
        crop = self.memory.get(key)
        if crop is None and self.folder is not None and self.path(key).is_file():
            try:
                crop = SubjectCrop.parse(key, self.path(key).read_bytes())
            except (OSError, SyntaxError, ValueError, KeyError, TypeError):  # damaged: recomputed and replaced
                return None
        if crop is not None:
            self._remember(crop)
        return crop

    def put(self, crop: SubjectCrop) -> None:
        self._remember(crop)
        if self.folder is not None:
            atomic_write_bytes(self.path(crop.key), crop.stored())

    def _remember(self, crop: SubjectCrop) -> None:
        self.memory[crop.key] = crop
        self.memory.move_to_end(crop.key)
        while len(self.memory) > self.memory_items:
            self.memory.popitem(last=False)


class SubjectExtractor:
    """The crops of a run: shared per item, cached across runs, saved as ``crops/<id>.png``; times itself."""

    def __init__(
        self, detector, segmenter, cache: CropCache, run_dir: Path | None = None, threshold: float = BOX_THRESHOLD
    ):
        self.detector, self.segmenter, self.cache = detector, segmenter, cache
        self.run_dir, self.threshold = run_dir, threshold
        #: Wall time spent in :meth:`crops` (cache look-ups, detection, segmentation, saving).
        self.seconds = 0.0

    def prepare(self) -> SubjectExtractor:
        self.detector.prepare()
        self.segmenter.prepare()
        return self

    def key(self, prompt: str, image: Image.Image) -> str:
        identity = (
            PROCEDURE,
            str(self.threshold),
            self.detector.fingerprint,
            self.segmenter.fingerprint,
            prompt,
            pixels_hash(image),
        )
        return hashlib.sha256("\0".join(identity).encode()).hexdigest()

    def crops(self, items: Sequence[ScoreItem]) -> list[SubjectCrop | None]:
        """One crop per item, ``None`` for an item without an object prompt."""
        todo: dict[int, tuple[Image.Image, str]] = {}
        for i, item in enumerate(items):
            if DERIVED in item.derived:
                continue
            prompt = normalize_prompt(item.sample.object)
            if prompt is None:
                item.derived[DERIVED] = None
                continue
            todo[i] = (to_rgb(item.output, f"output of sample {item.sample.id}"), prompt)
        for i, crop in zip(todo, self.cut([image for image, _ in todo.values()], [p for _, p in todo.values()])):
            self._keep(items[i], crop)
        return [item.derived[DERIVED] for item in items]

    def cut(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[SubjectCrop]:
        """The crops of RGB ``images`` for normalised ``prompts``, from the cache or computed (and cached);
        an image that appears twice with the same prompt is cut once."""
        started = time.perf_counter()
        keys = [self.key(prompt, image) for image, prompt in zip(images, prompts)]
        found = {key: self.cache.get(key) for key in dict.fromkeys(keys)}
        missing = {key: i for i, key in enumerate(keys) if found[key] is None}
        if missing:
            fresh = extract_subjects(
                [images[i] for i in missing.values()],
                [prompts[i] for i in missing.values()],
                list(missing),
                self.detector,
                self.segmenter,
                self.threshold,
            )
            for crop in fresh:
                self.cache.put(crop)
                found[crop.key] = crop
        self.seconds += time.perf_counter() - started
        return [found[key] for key in keys]

    def _keep(self, item: ScoreItem, crop: SubjectCrop) -> None:
        item.derived[DERIVED] = crop
        if self.run_dir is not None and crop.png is not None:
            write_if_changed(Path(self.run_dir) / "crops" / f"{safe_id(item.sample.id)}.png", crop.png)


def subject_extractor(ctx: ScoringContext) -> SubjectExtractor:
    """The run's extractor (a context service) on its detector and SAM, crop cache and run directory."""

    def build() -> SubjectExtractor:
        opts = ctx.options
        folder = (opts.cache_dir or default_cache_dir()) / "crops" if opts.use_cache else None
        return SubjectExtractor(detector_for(ctx), sam_for(ctx), CropCache(folder), ctx.run_dir)

    return ctx.service("subject_crops", build)
