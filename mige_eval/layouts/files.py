"""Layouts of image files in a folder: flat ``<id>.png``, the MagicBrush script's tree, MIGE's ``<idx>.jpg``.

Each layout names, for a sample, the file stems its output may have (paths relative to the folder,
without the suffix); any of ``.png``, ``.jpg``, ``.jpeg``, ``.webp`` (any case) may follow. A sample
with two candidate files, or a file two samples would claim, is ambiguous.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from mige_eval.benchmarks.turns import TURNS
from mige_eval.images import IMAGE_SUFFIXES, ImageRef
from mige_eval.layouts.base import Layout, Matching, SampleKey
from mige_eval.store import safe_id

SUFFIX_WORDS = "/".join(IMAGE_SUFFIXES)


def image_files(root: Path, depth: int) -> dict[str, list[str]]:
    """Image files under ``root`` down to ``depth`` folder levels, by stem: ``{"101/101_1": ["101/101_1.png"]}``.

    Hidden files and folders (a leading dot) are skipped; names are relative POSIX paths.
    """
    found: dict[str, list[str]] = {}

    def walk(folder: Path, prefix: str, levels: int) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    if levels > 1:
                        walk(Path(entry.path), f"{prefix}{entry.name}/", levels - 1)
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and entry.is_file():
                    found.setdefault(prefix + os.path.splitext(entry.name)[0], []).append(prefix + entry.name)

    walk(root, "", depth)
    return found


class FileLayout(Layout):
    """A layout of files; subclasses say which stems a sample's output may have."""

    #: Folder levels read: 1 = only files directly in the folder.
    depth: ClassVar[int] = 1

    @abc.abstractmethod
    def stems(self, sample_id: str, meta: dict) -> list[str]:
        """The stems (relative paths without a suffix) the sample's output may have, in order."""

    @abc.abstractmethod
    def looked_for(self, samples: Sequence[SampleKey]) -> str:
        """What the layout looks for, in words, with an example from the samples."""

    def expected(self, samples: Sequence[SampleKey]) -> Callable[[str], bool]:
        """Which unclaimed stems still belong to the layout (e.g. the other MagicBrush setting's files),
        so that they are not listed as unmatched."""
        return lambda stem: False

    def match(self, samples: Sequence[SampleKey]) -> Matching:
        files = image_files(self.root, self.depth)
        matching = Matching(self.name, self.looked_for(samples))
        claimed: dict[str, str] = {}
        for sample_id, meta in samples:
            hits = [path for stem in dict.fromkeys(self.stems(sample_id, meta)) for path in files.get(stem, ())]
            if not hits:
                matching.missing[sample_id] = ""
                continue
            if len(hits) > 1:
                matching.ambiguous.append(f"sample {sample_id}: {' and '.join(hits)}")
            elif hits[0] in claimed:
                matching.ambiguous.append(f"{hits[0]}: the output of {claimed[hits[0]]} and of {sample_id}")
            claimed[hits[0]] = sample_id
            matching.found[sample_id] = ImageRef.from_path(self.root / hits[0], hits[0])
        expected = self.expected(samples)
        matching.unmatched = [
            path for stem, paths in files.items() for path in paths if path not in claimed and not expected(stem)
        ]
        return matching


class Flat(FileLayout):
    name = "flat"
    summary = "DIR/<sample id>.png (or .jpg, .jpeg, .webp)"

    def stems(self, sample_id: str, meta: dict) -> list[str]:
        return [sample_id, safe_id(sample_id)]

    def looked_for(self, samples: Sequence[SampleKey]) -> str:
        example = safe_id(samples[0][0]) if samples else "<id>"
        return f"<sample id>{SUFFIX_WORDS} directly in {self.root} (e.g. {example}.png)"


#: A file name of the MagicBrush evaluation script: ``<img_id>_1``, ``<img_id>_inde_<k>``, ``<img_id>_iter_<k>``.
_MAGICBRUSH_NAME = re.compile(r"^(?:(?P<folder>[^/]+)/)?(?P<img>[^/]+)_(?:1|inde_(?P<inde>\d+)|iter_(?P<iter>\d+))$")


class MagicBrush(FileLayout):
    """The results tree of OSU-NLP-Group/MagicBrush ``evaluation/image_eval.py``: one folder per session.

    In ``DIR/<img_id>/`` the script reads ``<img_id>_1.png`` as turn 1 in both settings,
    ``<img_id>_inde_<k>.png`` as turn k of the single-turn setting (each turn edits the ground-truth
    input) and ``<img_id>_iter_<k>.png`` as turn k of the multi-turn setting (each turn edits the
    model's previous output), whose last turn is scored. A single-turn sample ``<img_id>-t<k>`` takes
    ``_1`` (k = 1) or ``_inde_<k>``; a multi-turn sample ``<img_id>`` of K turns takes ``_1`` (K = 1) or
    ``_iter_<K>``. The same names directly in ``DIR`` (a flattened tree) are accepted too. The other
    setting's files and the intermediate turns of a chain belong to the tree and are not unmatched.
    """

    name = "magicbrush"
    benches = frozenset({"magicbrush"})
    summary = "MagicBrush evaluation script's tree: DIR/<img_id>/<img_id>_1.png, _inde_<k>.png, _iter_<k>.png"
    depth = 2

    @staticmethod
    def file_stem(meta: dict) -> str:
        img_id, turn = meta["img_id"], meta["turn"]
        if turn == 1:
            return f"{img_id}_1"
        return f"{img_id}_{'iter' if meta.get(TURNS) else 'inde'}_{turn}"

    def stems(self, sample_id: str, meta: dict) -> list[str]:
        if "img_id" not in meta or "turn" not in meta:
            return []
        name = self.file_stem(meta)
        return [f"{meta['img_id']}/{name}", name]

    def looked_for(self, samples: Sequence[SampleKey]) -> str:
        multi = any(meta.get(TURNS) for _, meta in samples)
        example = next(
            (f"{meta['img_id']}/{self.file_stem(meta)}.png" for _, meta in samples if meta.get("turn", 1) > 1),
            "101/101_1.png",
        )
        turns = "<img_id>_iter_<K>.png (last turn K, multi-turn)" if multi else "<img_id>_inde_<k>.png (turn k)"
        return f"the MagicBrush script's results tree: <img_id>/<img_id>_1.png (turn 1), {turns} (e.g. {example})"

    def expected(self, samples: Sequence[SampleKey]) -> Callable[[str], bool]:
        """A script-named file of a known session whose turn the session has."""
        turns: dict[str, int] = {}
        for _, meta in samples:
            if "img_id" in meta:
                turns[meta["img_id"]] = max(turns.get(meta["img_id"], 0), meta.get("turn", 1))

        def known(stem: str) -> bool:
            parsed = _MAGICBRUSH_NAME.match(stem)
            if parsed is None or parsed["folder"] not in (None, parsed["img"]):
                return False
            k = int(parsed["inde"] or parsed["iter"] or 1)
            return 1 <= k <= turns.get(parsed["img"], 0)

        return known


class Mige(FileLayout):
    """MIGE's inference scripts (``infer_scripts/*/MIGE_*_infer.py``) save ``<save_root>/<idx>.jpg``.

    Emu Edit: ``idx`` is the row's ``idx`` (also the sample id). MIGEBench: the JSON's ``idx``, which
    the two subsets share, so a folder holds one subset (``--subset``) unless each subset's outputs
    sit in a folder named after it (``DIR/add/<idx>.jpg``, ``DIR/replace/<idx>.jpg``).
    """

    name = "mige"
    benches = frozenset({"emuedit", "migebench"})
    summary = "MIGE's inference scripts: DIR/<idx>.jpg (MIGEBench: one subset, or DIR/<subset>/<idx>.jpg)"
    depth = 2

    def stems(self, sample_id: str, meta: dict) -> list[str]:
        if "idx" not in meta:
            return []
        if self.bench == "migebench":
            return [f"{meta['subset']}/{meta['idx']}", str(meta["idx"])]
        return [str(meta["idx"])]

    def looked_for(self, samples: Sequence[SampleKey]) -> str:
        if self.bench == "migebench":
            return f"<idx>{SUFFIX_WORDS} of one subset (--subset), or <subset>/<idx>.jpg (e.g. add/0.jpg)"
        return f"<idx>{SUFFIX_WORDS} (e.g. 0.jpg)"

    def match(self, samples: Sequence[SampleKey]) -> Matching:
        matching = super().match(samples)
        if self.bench == "migebench":
            matching.ambiguity_hint = (
                "MIGEBench's add and replace records share idx values: score one subset "
                "with --subset add or --subset replace, or put each subset's outputs in "
                f"{self.root}/add/ and {self.root}/replace/."
            )
        return matching
