"""Where another tool put a model's outputs: the published layouts ``mige-eval score --layout`` reads.

A layout only maps outputs (files, or rows of a dataset) to the benchmark's sample ids; the ids are
always the benchmark's own. Layouts, most specific first (the order ``auto`` prefers on a tie):

- ``magicbrush``: the MagicBrush evaluation script's results tree (:class:`files.MagicBrush`);
- ``mige``: MIGE's inference scripts' ``<idx>.jpg`` for Emu Edit and MIGEBench (:class:`files.Mige`);
- ``emu-generations``: Emu Edit's own outputs dataset (:mod:`generations`);
- ``mapping``: an ``id,path`` CSV or JSONL file for anything else (:mod:`mapping`);
- ``flat``: ``<sample id>.png`` (or ``.jpg``, ``.jpeg``, ``.webp``) in one folder.

``auto`` matches every layout that applies to the benchmark and to what ``--images`` is, and takes
the one that finds the most samples; layouts that find the same file for every sample are one
answer. Nothing found refuses, listing what each layout looked for; two different answers, or an
ambiguous match inside the chosen layout, refuse too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mige_eval.layouts.base import Layout, LayoutError, Matching, SampleKey, shown
from mige_eval.layouts.files import Flat, MagicBrush, Mige, image_files
from mige_eval.layouts.generations import EmuGenerations, models
from mige_eval.layouts.mapping import MappingFile

LAYOUTS: dict[str, type[Layout]] = {cls.name: cls for cls in (MagicBrush, Mige, EmuGenerations, MappingFile, Flat)}
CHOICES = ("auto", *LAYOUTS)

__all__ = ["CHOICES", "LAYOUTS", "LayoutError", "Matching", "generation_models", "resolve"]


def resolve(
    root: Path, asked: str, *, bench: str | None, samples: Sequence[SampleKey], select: str | None = None
) -> Matching:
    """The outputs under ``root`` for ``samples``, by the ``asked`` layout or the detected one."""
    if asked not in CHOICES:
        raise LayoutError(f"unknown layout {asked!r}: use one of {', '.join(CHOICES)}")
    if not root.exists():
        raise LayoutError(f"--images {root} does not exist")
    if asked != "auto":
        matchings = [LAYOUTS[asked](root, bench=bench, select=select).match(samples)]
    else:
        candidates = [cls for cls in LAYOUTS.values() if cls.applies(root, bench)]
        if not candidates:
            raise LayoutError(f"--images {root} is neither a folder nor a mapping file (.csv, .jsonl)")
        matchings = [cls(root, bench=bench, select=select).match(samples) for cls in candidates]
    best = max(len(m.found) for m in matchings)
    if best == 0:
        raise LayoutError(_nothing_found(root, bench, len(samples), matchings))
    answers: list[Matching] = []
    for matching in (m for m in matchings if len(m.found) == best):
        if all(matching.signature() != a.signature() for a in answers):
            answers.append(matching)
    if len(answers) > 1:
        raise LayoutError(
            f"layouts {' and '.join(a.layout for a in answers)} each find outputs for {best} samples "
            f"in {root}, in different files; choose one with --layout"
        )
    matching = answers[0]
    matching.check_unambiguous()
    if select is not None and matching.layout != EmuGenerations.name:
        raise LayoutError(
            f"--select picks a model of the {EmuGenerations.name} layout; {root} was read as layout {matching.layout}"
        )
    return matching


def _nothing_found(root: Path, bench: str | None, count: int, matchings: Sequence[Matching]) -> str:
    looked = "".join(f"\n  - {m.layout}: {m.looked_for}" for m in matchings)
    present = ""
    if root.is_dir():
        files = [p for paths in image_files(root, 2).values() for p in paths]
        present = (
            f"\n{root} holds {len(files)} image file(s)"
            + (f": {shown(files, 5)}" if files else "")
            + " (two folder levels read)."
        )
    return (
        f"no output in {root} matches any of the {count} samples of {bench or 'the benchmark'}; nothing was "
        f"scored. Looked for:{looked}{present}\nFor other names, list them in a CSV (id,path) or JSONL "
        "file and pass it with --images FILE --layout mapping."
    )


def generation_models(root: Path, asked: str, bench: str | None) -> list[str]:
    """The ``model`` values to score one run each when ``root`` is an Emu Edit generations dataset read
    with the ``emu-generations`` layout (asked, or detected by ``auto``); empty otherwise."""
    if asked not in ("auto", EmuGenerations.name) or not EmuGenerations.applies(root, bench):
        return []
    return models(root) or []
