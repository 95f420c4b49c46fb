"""Small MagicBrush and MIGEBench copies in the exact published layouts, for loader and end-to-end tests.

The callers choose the pixels (real DreamBench photos, or noise where detector behaviour matters);
these builders own the file names, folder structure and JSON fields of each release.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

MIGEBENCH_PREFIX = "/path/to/MIGEBench/"
MIGEBENCH_KINDS = ("source", "target", "mask", "entity_black", "entity_white")

#: ``image(kind, record number, size)`` → the picture to save for that file.
ImageFor = Callable[[str, int, tuple[int, int]], Image.Image]


def write_migebench(root: Path, records: Sequence[tuple[str, int, str, tuple[int, int]]], image: ImageFor) -> Path:
    """``add_bench.json`` / ``replace_bench.json`` with the authors' placeholder paths and every image folder.

    ``records`` holds (subset, idx, object, source size); entities are 32×32. Field values follow the two
    records of the authors' ``example_subject_edit.json`` (docs/metrics.md, migebench).
    """
    by_subset: dict[str, list[dict]] = {"add": [], "replace": []}
    for n, (subset, idx, obj, size) in enumerate(records):
        paths = {}
        for kind in MIGEBENCH_KINDS:
            folder = "entity" if kind.startswith("entity") else kind
            relative = f"{subset}/{subset}_{folder}/{idx}_{kind}.jpg"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            image(kind, n, size if kind in ("source", "target", "mask") else (32, 32)).save(root / relative)
            paths[kind] = MIGEBENCH_PREFIX + relative
        entities = [paths["entity_black"], paths["source"]]
        by_subset[subset].append(
            {
                "image": paths["target"],
                "source_path": [paths["source"]],
                "caption": f"{subset} {obj}",
                "width": 1024,
                "height": 1024,
                "aesthetic": 5.0,
                "object": obj,
                "entity_dino": obj,
                "multi_prompt": f"{subset} <imagehere> to <imagehere>",
                "target_caption": f"a photo with {obj}",
                "clip_t": 0.27,
                "mask_path": [paths["mask"]],
                "entity_path": entities if subset == "add" else entities[::-1],
                "entity_path_white": [paths["entity_white"]],
                "idx": idx,
                "crop": "0",
            }
        )
    for subset, rows in by_subset.items():
        (root / f"{subset}_bench.json").write_text(json.dumps(rows, indent=1))
    return root


def write_magicbrush(root: Path, sessions: dict[str, int], image: Callable[[str, int], Image.Image]) -> Path:
    """The unzipped release ``test/`` folder: ``edit_sessions.json``, both description files, ``images/``.

    ``sessions`` maps an image id to its number of turns; ``image(img_id, k)`` gives the picture of turn
    k's output (k = 0: the input). Masks are white boxes on black; descriptions name id and turn.
    """
    edit_sessions, local, global_ = {}, {}, {}
    for img_id, turns in sessions.items():
        folder = root / "images" / img_id
        folder.mkdir(parents=True, exist_ok=True)
        image(img_id, 0).save(folder / f"{img_id}-input.png")
        global_[img_id] = {f"{img_id}-input.png": f"global {img_id} input"}
        local[img_id], edit_sessions[img_id] = {}, []
        for k in range(1, turns + 1):
            output, mask = f"{img_id}-output{k}.png", f"{img_id}-mask{k}.png"
            image(img_id, k).save(folder / output)
            box = Image.new("L", (512, 512), 0)
            box.paste(255, (64 * k, 64, 64 * k + 128, 256))
            box.convert("RGB").save(folder / mask)
            local[img_id][output] = f"local {img_id} turn {k}"
            global_[img_id][output] = f"global {img_id} turn {k}"
            previous = f"{img_id}-input.png" if k == 1 else f"{img_id}-output{k - 1}.png"
            edit_sessions[img_id].append(
                {"input": previous, "mask": mask, "output": output, "instruction": f"edit {img_id} turn {k}"}
            )
    for name, value in (
        ("edit_sessions.json", edit_sessions),
        ("local_descriptions.json", local),
        ("global_descriptions.json", global_),
    ):
        (root / name).write_text(json.dumps(value, indent=1))
    return root
