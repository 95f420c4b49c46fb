"""Emu Edit: the ``facebook/emu_edit_test_set`` test split (docs/metrics.md, emuedit), read lazily.

Each row is one instruction edit of an embedded source image. Per row: ``instruction``, ``image``
(the source, a ``datasets.Image`` struct), ``task`` (one of eight task types), ``split``, ``idx``,
``hash``, ``input_caption``, ``output_caption``. Mapping to a :class:`~mige_eval.types.Sample`:

- ``id`` = ``idx`` (the file stem other tools give their outputs, e.g. ``123.png``), ``subset`` = task;
- ``source`` = ``references[0]`` = the image: Emu Edit's CLIPimg, DINO and L1 compare with the source;
- ``caption`` = ``output_caption`` (CLIP-T); ``input_caption`` / ``output_caption`` feed CLIPdir.

690 of the 3,589 rows repeat the input caption as the output caption: on them CLIPdir is undefined and
CLIP-T scores a caption that does not describe the edit. Option ``emu_caption_filter``
(``--emu-caption-filter``) decides what those rows contribute (docs/metrics.md):

- ``text`` (default, the MIGE authors' ``edit.py``): ``clip_t`` and ``clip_dir`` are ``null`` on them,
  every other metric keeps all 3,589 rows;
- ``none``: every metric keeps every row (``clip_dir`` is still ``null`` there: its direction is zero);
- ``identical``: the rows count in no metric (2,899 rows scored).

The filter only decides which values count, never which images are generated, so one run serves all
three; the rows keep their records and the flag ``emu_identical_captions`` counts the exclusions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from mige_eval.benchmarks.base import Benchmark, DataError, compare_counts
from mige_eval.benchmarks.hubsplit import SplitTable
from mige_eval.benchmarks.rows import Row, RowError
from mige_eval.names import did_you_mean
from mige_eval.presets import BENCH_OPTION_DEFAULTS
from mige_eval.types import BrokenSample, Sample

INDEX_COLUMNS = ["instruction", "task", "idx", "input_caption", "output_caption"]
CAPTION_FILTERS = ("text", "none", "identical")
#: Metrics each filter excludes on the rows with identical captions (``*``: every metric).
EXCLUDED = {"text": ("clip_t", "clip_dir"), "none": (), "identical": ("*",)}
IDENTICAL_FLAG = "emu_identical_captions"


class EmuEdit(Benchmark):
    card_file = "emuedit.yaml"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.caption_filter = self.options.get("emu_caption_filter") or BENCH_OPTION_DEFAULTS["emu_caption_filter"]
        if self.caption_filter not in CAPTION_FILTERS:
            raise DataError(
                f"emuedit: --emu-caption-filter {self.caption_filter!r} is not one of "
                f"{', '.join(CAPTION_FILTERS)}.{did_you_mean(self.caption_filter, CAPTION_FILTERS)}"
            )
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
                yield BrokenSample(
                    id=str(idx) if usable else f"row{row}",
                    task="edit",
                    subset=str(record.get("task") or "unknown"),
                    error=str(exc),
                )
                continue
            seen[sample.meta["idx"]] = row
            self._stats["identical_captions"] += sample.meta["identical_captions"]
            self._tasks[sample.subset] += 1
            yield sample

    def _sample(self, table: SplitTable, row: int, fields: Row, seen: dict[int, int]) -> Sample:
        idx = fields.integer("idx")
        if idx in seen:
            raise fields.error("idx", f"{idx} repeats {table.where(seen[idx])}; sample ids must be unique")
        instruction = fields.text("instruction")
        input_caption, output_caption = fields.text("input_caption"), fields.text("output_caption")
        image = table.image(row, "image")
        return Sample(
            id=str(idx),
            task="edit",
            subset=fields.text("task"),
            instruction=instruction,
            prompt=instruction,
            source=image,
            references=(image,),
            caption=output_caption,
            input_caption=input_caption,
            output_caption=output_caption,
            meta={"idx": idx, "identical_captions": input_caption == output_caption},
        )

    def scoring_settings(self) -> dict[str, str]:
        return {**super().scoring_settings(), "emu_caption_filter": self.caption_filter}

    def exclusions(self, sample: Sample) -> dict[str, str]:
        if not sample.meta.get("identical_captions"):
            return {}
        return {metric: IDENTICAL_FLAG for metric in EXCLUDED[self.caption_filter]}

    def notes(self) -> list[str]:
        rows, same = self._stats["rows"], self._stats["identical_captions"]
        if not same:
            return []
        effect = {
            "text": "clip_t and clip_dir leave them out, the other metrics keep them",
            "none": "every metric keeps them (clip_dir is null there)",
            "identical": "no metric counts them",
        }[self.caption_filter]
        return [
            f"emuedit: {same} of {rows} rows have input_caption equal to output_caption; "
            f"--emu-caption-filter {self.caption_filter}: {effect}"
        ]

    def data_problems(self, samples: list[Sample | BrokenSample]) -> list[str]:
        actual = {"rows": self._stats["rows"], "identical_captions": self._stats["identical_captions"]}
        problems = compare_counts(self.name, actual, self.card.expected)
        expected_tasks = self.card.extra.get("task_counts", {})
        problems += compare_counts(
            self.name,
            {f"task {t}": self._tasks[t] for t in expected_tasks},
            {f"task {t}": n for t, n in expected_tasks.items()},
        )
        return problems
