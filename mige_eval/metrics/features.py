"""The feature store: every image and text encoded once, in batches, remembered across runs.

Why: scoring a second model on a benchmark should cost only the encoding of that model's outputs,
and DreamBench gives the same subject photos to 25 prompts. A feature is keyed by its *space* —
feature kind (``dino``, ``clip``, ``clip_ip2p``, ``text``), backbone id + revision + precision and
the preprocessing recipe — and by the identity of its input:

- a reference (:class:`ImageRef`) by the sha256 of its encoded bytes, so a cached one is never decoded;
- an in-memory image (an output) by the sha256 of its pixels;
- a ``(key, image)`` pair by the caller's key (e.g. subject crops);
- a text by its token ids, so captions that differ only in case or spacing share one entry.

Two layers: a bounded in-memory LRU (per run) and a sqlite file shared by runs and processes
(``features.sqlite`` under ``--cache-dir``, default ``<user cache dir>/mige-eval/features``;
``--no-cache`` keeps only the memory layer). Misses are decoded, prepared and encoded in forward
passes of ``--batch-size``. :data:`ENCODED` counts the items actually encoded, per kind.
"""

from __future__ import annotations

import hashlib
import sqlite3
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mige_eval.images import ImageDecodeError, ImageRef, content_hash, pixels_hash, to_rgb
from mige_eval.metrics.backbones import RECIPES, Backbone, backbone

if TYPE_CHECKING:
    from mige_eval.metrics.base import ScoringContext

#: Items encoded by forward passes in this process, per kind (``dino``, ``clip``, ``clip_ip2p``, ``text``).
ENCODED: Counter[str] = Counter()

ImageInput = ImageRef | Image.Image | tuple[str, Image.Image]
#: Version of the preprocessing recipes; bump it when a transform changes so old cached features go unused.
RECIPE_VERSION = "v1"
CACHE_FILE = "features.sqlite"


@dataclass(frozen=True)
class TextFeatures:
    """CLIP text embeddings with the token ids they were computed from and whether each text was truncated."""

    vectors: np.ndarray
    token_ids: list[tuple[int, ...]]
    truncated: list[bool]


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mige-eval")) / "features"


class DiskCache:
    """Feature vectors in one sqlite file (WAL, so parallel shards can share it)."""

    def __init__(self, folder: Path):
        self.path = Path(folder).expanduser() / CACHE_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # a crash may lose the last rows, never corrupt the file
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS features (space TEXT NOT NULL, item TEXT NOT NULL, "
                "vector BLOB NOT NULL, PRIMARY KEY (space, item)) WITHOUT ROWID"
            )
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeError(
                f"feature cache {self.path} cannot be used ({exc}); delete the file, choose another "
                "--cache-dir, or run with --no-cache"
            ) from exc

    def get(self, space: str, items: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(items), 500):
            chunk = list(items[start : start + 500])
            rows = self.db.execute(
                f"SELECT item, vector FROM features WHERE space = ? AND item IN ({','.join('?' * len(chunk))})",
                [space, *chunk],
            )
            found.update((item, np.frombuffer(blob, dtype=np.float32)) for item, blob in rows)
        return found

    def put(self, space: str, vectors: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO features VALUES (?, ?, ?)",
                [(space, item, np.asarray(v, np.float32).tobytes()) for item, v in vectors.items()],
            )

    def close(self) -> None:
        self.db.close()


class FeatureStore:
    """Features of images and texts for one run: memory, then disk, then batched forward passes."""

    def __init__(
        self,
        backbones: Callable[[str], Backbone],
        *,
        cache_dir: Path | None,
        batch_size: int = 16,
        load: Callable[[ImageRef], Image.Image] = ImageRef.load,
        memory_items: int = 8192,
    ):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.backbones, self.batch_size, self.load = backbones, batch_size, load
        self.disk = DiskCache(cache_dir) if cache_dir is not None else None
        self.memory: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self.memory_items = memory_items
        self._ref_keys: OrderedDict[str, str] = OrderedDict()
        self._pixel_keys: dict[int, tuple[weakref.ref, str]] = {}

    def image_features(self, kind: str, images: Sequence[ImageInput]) -> np.ndarray:
        """N×D features of ``images`` (references, in-memory images or ``(key, image)`` pairs), in order."""
        if kind not in RECIPES:
            raise ValueError(f"unknown image feature kind {kind!r}: use {', '.join(RECIPES)}")
        model = self.backbones(RECIPES[kind])
        space = f"{kind}|{model.fingerprint}|{RECIPE_VERSION}"
        keys, sources = [], {}
        for image in images:
            key, source = self._image_key(image)
            keys.append(key)
            sources.setdefault(key, source)

        def encode(batch: list[str]) -> np.ndarray:
            return model.encode_pixels(np.stack([model.pixels(self._decode(sources[k]), kind) for k in batch]))

        return self._lookup(space, kind, keys, encode)

    def text_features(self, texts: Sequence[str]) -> TextFeatures:
        """CLIP embeddings of ``texts`` with their token ids and truncation flags (docs/metrics.md, CLIP)."""
        if not texts:
            return TextFeatures(np.zeros((0, 0), dtype=np.float32), [], [])
        model = self.backbones("clip")
        ids, truncated = model.tokenize(texts)
        keys = [hashlib.sha256(repr(seq).encode()).hexdigest() for seq in ids]
        by_key = dict(zip(keys, ids))
        vectors = self._lookup(
            f"text|{model.fingerprint}", "text", keys, lambda batch: model.encode_tokens([by_key[k] for k in batch])
        )
        return TextFeatures(vectors, ids, truncated)

    def _lookup(self, space: str, kind: str, keys: Sequence[str], encode: Callable[[list[str]], np.ndarray]):
        found: dict[str, np.ndarray] = {}
        for key in dict.fromkeys(keys):
            vector = self.memory.get((space, key))
            if vector is not None:
                self.memory.move_to_end((space, key))
                found[key] = vector
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing and self.disk is not None:
            stored = self.disk.get(space, missing)
            found.update(stored)
            self._remember(space, stored)
            missing = [k for k in missing if k not in stored]
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            fresh = dict(zip(batch, encode(batch)))
            ENCODED[kind] += len(batch)
            found.update(fresh)
            self._remember(space, fresh)
            if self.disk is not None:
                self.disk.put(space, fresh)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def _remember(self, space: str, vectors: dict[str, np.ndarray]) -> None:
        for key, vector in vectors.items():
            self.memory[(space, key)] = vector
        while len(self.memory) > self.memory_items:
            self.memory.popitem(last=False)

    def _image_key(self, image: ImageInput) -> tuple[str, ImageInput]:
        if isinstance(image, ImageRef):
            return "bytes:" + self._ref_hash(image), image
        if isinstance(image, Image.Image):
            return "pixels:" + self._pixels_hash(image), image
        if isinstance(image, tuple) and len(image) == 2 and isinstance(image[1], Image.Image):
            return "key:" + str(image[0]), image[1]
        raise TypeError(f"expected an ImageRef, a PIL image or a (key, PIL image) pair, got {type(image).__name__}")

    def _ref_hash(self, ref: ImageRef) -> str:
        """Content hash of a reference's bytes, remembered by label (one read per run, no decode)."""
        if ref.label not in self._ref_keys:
            try:
                self._ref_keys[ref.label] = content_hash(ref.read())
            except OSError as exc:
                raise ImageDecodeError(f"cannot read image {ref.label}: {exc}") from exc
            if len(self._ref_keys) > self.memory_items:
                self._ref_keys.popitem(last=False)
        return self._ref_keys[ref.label]

    def _pixels_hash(self, img: Image.Image) -> str:
        """Pixel hash of an in-memory image, remembered while the object lives (several metrics ask)."""
        seen = self._pixel_keys.get(id(img))
        if seen is not None and seen[0]() is img:
            return seen[1]
        digest = pixels_hash(img)
        self._pixel_keys = {k: v for k, v in self._pixel_keys.items() if v[0]() is not None}
        self._pixel_keys[id(img)] = (weakref.ref(img), digest)
        return digest

    def _decode(self, source: ImageInput) -> Image.Image:
        return self.load(source) if isinstance(source, ImageRef) else to_rgb(source, "an in-memory image")

    def close(self) -> None:
        if self.disk is not None:
            self.disk.close()


def feature_store(ctx: ScoringContext) -> FeatureStore:
    """The run's feature store (a context service), on the run's backbones, cache folder and batch size."""
    opts = ctx.options

    def build() -> FeatureStore:
        folder = None if not opts.use_cache else (opts.cache_dir or default_cache_dir())
        return FeatureStore(
            lambda role: backbone(ctx, role), cache_dir=folder, batch_size=opts.batch_size, load=ctx.load
        )

    return ctx.service("features", build)
