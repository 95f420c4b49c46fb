"""Emu Edit's own outputs: the ``facebook/emu_edit_test_set_generations`` dataset.

The dataset repeats the test set's columns and adds ``edited_image`` (the model's output, a
``datasets.Image``) and ``model``. Its split names are swapped with respect to the test set: its
``validation`` split holds the 3,589 rows of the test set's ``test`` split (and its ``test`` split the
2,022 validation rows), so :data:`SPLIT` is read. Rows are matched to samples by ``idx``, one
``model`` value at a time (``--select``; ``mige-eval score`` makes one run per value without it).
Each output remembers its row's instruction: a sample whose own differs fails instead of being scored
against another row's edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mige_eval.benchmarks.base import DataError
from mige_eval.benchmarks.hubsplit import SplitTable
from mige_eval.layouts.base import Layout, LayoutError, Matching, SampleKey, shown

#: The generations dataset's split that holds the test set's rows (the names are swapped).
SPLIT = "validation"
COLUMNS = ["idx", "model", "instruction"]


class EmuGenerations(Layout):
    name = "emu-generations"
    benches = frozenset({"emuedit"})
    summary = "facebook/emu_edit_test_set_generations (its validation split), one run per model column value"

    @classmethod
    def applies(cls, root: Path, bench: str | None) -> bool:
        return super().applies(root, bench) and models(root) is not None

    def looked_for(self) -> str:
        return (
            f"the {SPLIT} split of facebook/emu_edit_test_set_generations in {self.root} (data/{SPLIT}-*.parquet "
            f"or {SPLIT}/state.json) with columns {', '.join(COLUMNS)}, edited_image"
        )

    def match(self, samples: Sequence[SampleKey]) -> Matching:
        table = _table(self.root)
        index = table.columns(COLUMNS)
        chosen = self._chosen(index["model"])
        matching = Matching(self.name, f"{self.looked_for()}, model {chosen!r}")
        rows: dict[int, list[int]] = {}
        for row, (idx, model) in enumerate(zip(index["idx"], index["model"])):
            if model == chosen:
                rows.setdefault(idx, []).append(row)
        wanted = set()
        for sample_id, meta in samples:
            idx = meta.get("idx")
            wanted.add(idx)
            hits = rows.get(idx, [])
            if not hits:
                matching.missing[sample_id] = f"{self.root} has no {SPLIT} row with idx {idx} and model {chosen!r}"
                continue
            if len(hits) > 1:
                matching.ambiguous.append(f"sample {sample_id}: {' and '.join(table.where(r) for r in hits)}")
            matching.found[sample_id] = table.image(hits[0], "edited_image")
            matching.instructions[sample_id] = index["instruction"][hits[0]]
        matching.unmatched = [
            f"{table.where(r)} (idx {idx})" for idx, hits in rows.items() if idx not in wanted for r in hits
        ]
        return matching

    def _chosen(self, values: list) -> str:
        names = list(dict.fromkeys(values))
        if self.select is not None:
            if self.select not in names:
                raise LayoutError(f"{self.root}: no row has model {self.select!r}; its models are: {shown(names)}")
            return self.select
        if len(names) != 1:
            raise LayoutError(
                f"{self.root} holds the outputs of {len(names)} models ({shown(names)}); choose one with --select MODEL"
            )
        return names[0]


def _table(root: Path) -> SplitTable:
    try:
        table = SplitTable.locate(root, SPLIT, what="emu-generations")
        table.require(COLUMNS + ["edited_image"], "emu-generations")
    except DataError as exc:
        raise LayoutError(f"{root} is not a copy of facebook/emu_edit_test_set_generations: {exc}") from exc
    return table


def models(root: Path) -> list[str] | None:
    """The ``model`` values of a generations dataset at ``root``, in order; None if it is not one."""
    try:
        return list(dict.fromkeys(_table(root).columns(["model"])["model"]))
    except LayoutError:
        return None
