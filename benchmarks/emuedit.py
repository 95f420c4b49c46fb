"""Emu Edit: the ``facebook/emu_edit_test_set`` test split (METRICS.md §4.1), read lazily.

Each row is one instruction edit of an embedded source image. Per row: ``instruction``, ``image``
(the source, a ``datasets.Image`` struct), ``task`` (one of eight task types), ``split``, ``idx``,
``hash``, ``input_caption``, ``output_caption``. Mapping to a :class:`~mige_eval.types.Sample`:

- ``id`` = ``idx`` (the file stem other tools give their outputs, e.g. ``123.png``), ``subset`` = task;
- ``source`` = ``references[0]`` = the image: Emu Edit's CLIPimg, DINO and L1 compare with the source;
- ``caption`` = ``output_caption`` (CLIP-T); ``input_caption`` / ``output_caption`` feed CLIPdir.

690 of the 3,589 rows repeat the input caption as the output caption. Option ``emu_caption_filter``
(``--emu-caption-filter``): ``none`` keeps them (their CLIPdir is undefined), ``identical`` drops them
from every metric; :meth:`EmuEdit.notes` tells the summary how many rows that concerns.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from mige_eval.benchmarks.base import Benchmark, DataError, compare_counts
from mige_eval.benchmarks.hubsplit import SplitTable
from mige_eval.benchmarks.rows import Row, RowError
from mige_eval.names import did_you_mean
from mige_eval.types import BrokenSample, Sample

INDEX_COLUMNS = ["instruction", "task", "idx", "input_caption", "output_caption"]
CAPTION_FILTERS = ("none", "identical")


class EmuEdit(Benchmark):
    card_file = "emuedit.yaml"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.caption_filter = self.options.get("emu_caption_filter") or "none"
        if self.caption_filter not in CAPTION_FILTERS:
            raise DataError(f"emuedit: --emu-caption-filter {self.caption_filter!r} is not one of "
                            f"{', '.join(CAPTION_FILTERS)}.{did_you_mean(self.caption_filter, CAPTION_FILTERS)}")
        self._stats: Counter[str] = Counter()
        self._tasks: Counter[str] = Counter()

    def table(self) -> SplitTable:
        split = self.card.source.get("split", "test")
        table = SplitTable.locate(self.root, split, what="emuedit")
        table.require(INDEX_COLUMNS + ["image"], "emuedit")
        return table

    def samples(self) -> Iterator[Sample | BrokenSample]:
        table = self.table()
        index = table.columns(INDEX_COLUMNS)
        self._stats, self._tasks = Counter(rows=table.num_rows), Counter()
        seen: dict[int, int] = {}
        for row in range(table.num_rows):
            record = {name: index[name][row] for name in INDEX_COLUMNS}
            try:
                sample = self._sample(table, row, Row(record, table.where(row)), seen)
            except RowError as exc:
                idx = record.get("idx")
                usable = isinstance(idx, int) and not isinstance(idx, bool) and idx not in seen
                if usable:  # its id is taken: a later row with the same idx is a repeat, not a collision
                    seen[idx] = row
                yield BrokenSample(id=str(idx) if usable else f"row{row}", task="edit",
                                   subset=str(record.get("task") or "unknown"), error=str(exc))
                continue
            seen[sample.meta["idx"]] = row
            identical = sample.input_caption == sample.output_caption
            self._stats["identical_captions"] += identical
            self._tasks[sample.subset] += 1
            if identical and self.caption_filter == "identical":
                continue
            yield sample

    def _sample(self, table: SplitTable, row: int, fields: Row, seen: dict[int, int]) -> Sample:
        idx = fields.integer("idx")
        if idx in seen:
            raise fields.error("idx", f"{idx} repeats {table.where(seen[idx])}; sample ids must be unique")
        instruction = fields.text("instruction")
        image = table.image(row, "image")
        return Sample(
            id=str(idx),
            task="edit",
            subset=fields.text("task"),
            instruction=instruction,
            prompt=instruction,
            source=image,
            references=(image,),
            caption=fields.text("output_caption"),
            input_caption=fields.text("input_caption"),
            output_caption=fields.text("output_caption"),
            meta={"idx": idx},
        )

    def notes(self) -> list[str]:
        rows, same = self._stats["rows"], self._stats["identical_captions"]
        if not same:
            return []
        if self.caption_filter == "identical":
            return [f"emuedit: --emu-caption-filter identical dropped {same} of {rows} rows whose input_caption "
                    "equals output_caption, from every metric"]
        return [f"emuedit: {same} of {rows} rows have input_caption equal to output_caption; they are kept "
                "(clip_dir is null on them; --emu-caption-filter identical drops them)"]

    def data_problems(self, samples: list[Sample | BrokenSample]) -> list[str]:
        actual = {"rows": self._stats["rows"], "identical_captions": self._stats["identical_captions"]}
        problems = compare_counts(self.name, actual, self.card.expected)
        expected_tasks = self.card.extra.get("task_counts", {})
        problems += compare_counts(self.name, {f"task {t}": self._tasks[t] for t in expected_tasks},
                                   {f"task {t}": n for t, n in expected_tasks.items()})
        return problems
