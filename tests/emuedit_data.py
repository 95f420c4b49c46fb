"""Small Emu Edit test splits in the exact published forms, for the loader, CLI and perf checks.

``facebook/emu_edit_test_set`` is a hub dataset whose ``test`` split is stored as parquet shards
``data/test-0000K-of-0000N-<16 hex>.parquet`` written by ``datasets`` (``push_to_hub``): columns
``instruction``, ``image`` (the ``datasets.Image`` feature: a struct of ``bytes`` and ``path`` with the
JPEG embedded), ``task``, ``split``, ``idx`` (int64), ``hash``, ``input_caption``, ``output_caption``, and
the ``huggingface`` schema metadata holding the features. The same rows can also arrive as
``datasets.save_to_disk`` output (``test/state.json`` + ``data-*.arrow``). ``facebook/emu_edit_test_set_generations``
(Emu Edit's own outputs) adds ``edited_image`` and ``model`` to the same columns and keeps the test rows in
its ``validation`` split. All are written here with the ``datasets`` library itself, so the files are what
a user's copy holds; callers choose the rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Column order of the published test split.
COLUMNS = ("instruction", "image", "task", "split", "idx", "hash", "input_caption", "output_caption")

#: (photo, task, instruction, input caption, output caption) of the default tiny split. Row 5 repeats its
#: input caption as output caption, like 690 rows of the real split.
DEFAULT_ROWS = (
    ("dog/00.jpg", "add", "add a red hat to the dog", "a dog on the grass", "a dog wearing a red hat"),
    ("backpack/00.jpg", "remove", "remove the backpack straps", "a red backpack", "a backpack without straps"),
    ("teapot/03.jpg", "style", "make it a watercolor painting", "a teapot on a table", "a watercolor teapot"),
    ("dog/01.jpg", "background", "put the dog on a beach", "a dog in a park", "a dog on a beach"),
    ("vase/04.jpg", "color", "make the vase blue", "a white vase", "a blue vase"),
    ("dog/02.jpg", "background", "make the background a blue color", "a dog sitting", "a dog sitting"),
    (
        "backpack/01.jpg",
        "add",
        "add a teddy bear next to the backpack",
        "a backpack on a floor",
        "a backpack and a teddy bear on a floor",
    ),
    ("dog/03.jpg", "remove", "remove the collar", "a dog with a collar", "a dog without a collar"),
    ("dog/04.jpg", "style", "turn it into a pencil sketch", "a small dog", "a pencil sketch of a small dog"),
    ("clock/01.jpg", "color", "make the clock golden", "a green clock", "a golden clock"),
    ("teapot/01.jpg", "add", "add steam above the teapot", "a teapot", "a steaming teapot"),
    ("dog3/05.jpg", "background", "place the dog in the snow", "a dog indoors", "a dog in the snow"),
)


def features(*, idx_type: str = "int64", drop: Sequence[str] = ()):
    """The published ``datasets.Features`` of the split (``idx_type`` / ``drop`` make broken variants)."""
    from datasets import Features, Image, Value

    types = {name: Value("string") for name in COLUMNS}
    types["image"], types["idx"] = Image(), Value(idx_type)
    return Features({name: types[name] for name in COLUMNS if name not in drop})


def default_rows(photos_root: Path) -> list[dict[str, Any]]:
    """The twelve rows of :data:`DEFAULT_ROWS`, idx 0..11, images = the real photos' JPEG bytes."""
    rows = []
    for idx, (photo, task, instruction, before, after) in enumerate(DEFAULT_ROWS):
        rows.append(
            row(
                idx,
                (photos_root / photo).read_bytes(),
                task=task,
                instruction=instruction,
                input_caption=before,
                output_caption=after,
            )
        )
    return rows


def row(
    idx: Any,
    jpeg: bytes | None,
    *,
    task: str,
    instruction: str,
    input_caption: str,
    output_caption: str,
    path: str | None = None,
) -> dict[str, Any]:
    """One record as the hub stores it; ``jpeg=None`` leaves the image struct without bytes."""
    return {
        "instruction": instruction,
        "image": {"bytes": jpeg, "path": path},
        "task": task,
        "split": "test",
        "idx": idx,
        "hash": hashlib.sha1(f"{idx}:{instruction}".encode()).hexdigest()[:10],
        "input_caption": input_caption,
        "output_caption": output_caption,
    }


def shard_name(index: int, count: int, rows: Sequence[Mapping[str, Any]], split: str = "test") -> str:
    """``<split>-0000K-of-0000N-<16 hex>.parquet``, the hash standing in for the hub writer's fingerprint."""
    digest = hashlib.sha256(repr([(r["idx"], r["instruction"]) for r in rows]).encode()).hexdigest()[:16]
    return f"{split}-{index:05d}-of-{count:05d}-{digest}.parquet"


def write_hub_snapshot(
    root: Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    sizes: Sequence[int] | None = None,
    shard_features: Mapping[int, Any] | None = None,
    row_group_size: int = 4,
) -> list[Path]:
    """A hub snapshot at ``root``: ``README.md`` and ``data/test-*.parquet`` shards.

    ``sizes`` gives the rows per shard (default: two halves); ``shard_features`` replaces the features of
    some shards (a broken shard). Row groups hold ``row_group_size`` rows (the hub writes 100 for image
    datasets; smaller here so that tiny shards still have several).
    """
    from datasets import Dataset

    sizes = list(sizes) if sizes is not None else [(len(rows) + 1) // 2, len(rows) // 2]
    if sum(sizes) != len(rows):
        raise ValueError(f"shard sizes {sizes} do not add up to {len(rows)} rows")
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# Emu Edit test set (tiny copy)\n")
    paths, start = [], 0
    for index, size in enumerate(sizes):
        part = [dict(r) for r in rows[start : start + size]]
        start += size
        feats = (shard_features or {}).get(index) or features()
        part = [{k: v for k, v in r.items() if k in feats} for r in part]
        path = root / "data" / shard_name(index, len(sizes), part)
        Dataset.from_list(part, features=feats).to_parquet(str(path), batch_size=row_group_size)
        paths.append(path)
    return paths


def write_save_to_disk(root: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """``DatasetDict({"test": ...}).save_to_disk(root)``: ``root/test/state.json`` and arrow files."""
    from datasets import Dataset, DatasetDict

    DatasetDict({"test": Dataset.from_list([dict(r) for r in rows], features=features())}).save_to_disk(str(root))
    return root


def write_generations(
    root: Path,
    rows: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Mapping[int, bytes]],
    *,
    shards: int = 2,
    row_group_size: int = 4,
) -> list[Path]:
    """``facebook/emu_edit_test_set_generations`` at ``root``: ``README.md`` and the parquet shards of its
    ``validation`` split, which holds the test set's rows (its split names are swapped).

    Its rows are the test set's columns plus ``edited_image`` (a ``datasets.Image``: the model's output)
    and ``model``: one row per (model, test row) in ``outputs`` (``{model: {idx: encoded bytes}}``), model
    after model, split into ``shards`` files.
    """
    from datasets import Dataset, Features, Image, Value

    feats = Features({**features(), "edited_image": Image(), "model": Value("string")})
    by_idx = {r["idx"]: r for r in rows}
    records = [
        {**by_idx[idx], "edited_image": {"bytes": data, "path": None}, "model": model}
        for model, images in outputs.items()
        for idx, data in images.items()
    ]
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n# Emu Edit generations (tiny copy)\n")
    size, paths = -(-len(records) // shards), []
    for index in range(shards):
        part = records[index * size : (index + 1) * size]
        path = root / "data" / shard_name(index, shards, part, split="validation")
        Dataset.from_list(part, features=feats).to_parquet(str(path), batch_size=row_group_size)
        paths.append(path)
    return paths
