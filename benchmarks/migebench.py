"""MIGEBench: instruction-based subject addition and replacement (``EurekaTian/MIGEBench``, docs/metrics.md, migebench).

``add_bench.json`` and ``replace_bench.json`` each list records whose image paths carry the authors'
placeholder prefix (``/path/to/MIGEBench/add/add_target/21_target.jpg``); they are remapped under the
dataset root. Mapping of one record to a :class:`~mige_eval.types.Sample`:

- ``instruction`` = ``multi_prompt``, its ``<imagehere>`` slots filled by ``entity_path`` in order
  (add: entity then source; replace: source then entity); ``prompt`` = ``caption`` (plain text);
- ``source`` = ``source_path[0]``, ``mask`` = ``mask_path[0]``, ``references`` = (``image``,) the target;
- ``caption`` = ``target_caption`` (CLIP-T), ``object`` = ``object`` (the detector prompt);
- ``subject_photo`` = the entity photo, picked by its ``_entity_black`` / ``_entity_white`` file-name
  suffix (preset ``migebench_subject``), never by position; ``meta["subject_index"]`` is where the
  entity sits among the instruction images; ``meta["idx"]`` and ``meta["subset"]`` name the record
  (MIGE's inference script saves its output as ``<idx>.jpg``, one folder per subset).

Option ``subset`` (``mige-eval score --subset add``) keeps one subset's samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mige_eval.benchmarks.base import Benchmark, DataError, compare_counts
from mige_eval.benchmarks.rows import Row, RowError, read_json
from mige_eval.images import ImageRef
from mige_eval.types import BrokenSample, Sample

if TYPE_CHECKING:
    from mige_eval.metrics.base import ScoringContext

TASK_OF = {"add": "subject_add", "replace": "subject_replace"}
PLACEHOLDER_PREFIX = "/path/to/MIGEBench/"


class MIGEBench(Benchmark):
    card_file = "migebench.yaml"
    preset_areas = ("migebench_subject",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rows: dict[str, int] = {}

    def samples(self) -> Iterator[Sample | BrokenSample]:
        subsets = self.card.subsets or tuple(TASK_OF)
        chosen = self.options.get("subset")  # ``mige-eval score --subset``: one subset's outputs
        if chosen is not None and chosen not in subsets:
            raise DataError(f"migebench: --subset {chosen!r} is not one of {', '.join(subsets)}")
        for subset in (chosen,) if chosen else subsets:
            name = f"{subset}_bench.json"
            records = read_json(self.file(name, what="benchmark file"), f"migebench {subset} file")
            if not isinstance(records, list):
                raise DataError(f"migebench: {name} must hold a list of records, got {type(records).__name__}")
            self._rows[subset] = len(records)
            seen: set[int] = set()
            for n, record in enumerate(records):
                idx = record.get("idx") if isinstance(record, dict) else None
                sample_id = f"{subset}-{idx}" if isinstance(idx, int) and idx not in seen else f"{subset}-row{n}"
                try:
                    sample = self._sample(subset, Row(record, f"{name} row {n}"), seen)
                except RowError as exc:
                    yield BrokenSample(id=sample_id, task=TASK_OF[subset], subset=subset, error=str(exc))
                    continue
                seen.add(sample.meta["idx"])
                yield sample

    def generation_settings(self, ctx: ScoringContext) -> dict[str, Any]:
        """A run of one subset (``--subset``) holds that subset's samples only: part of its identity."""
        settings = super().generation_settings(ctx)
        if self.options.get("subset"):
            settings["subset"] = self.options["subset"]
        return settings

    def _sample(self, subset: str, row: Row, seen: set[int]) -> Sample:
        idx = row.integer("idx")
        if idx in seen:
            raise row.error("idx", f"{idx} appears twice in this file; sample ids must be unique")
        entity_paths = row.text_list("entity_path")
        subject_index = _suffix_index(row, "entity_path", entity_paths, "_entity_black")
        instruction_images = tuple(self._image(row, "entity_path", p) for p in entity_paths)
        if self.presets["migebench_subject"] == "entity-white":
            white = row.text_list("entity_path_white")
            subject_photo = self._image(
                row, "entity_path_white", white[_suffix_index(row, "entity_path_white", white, "_entity_white")]
            )
        else:
            subject_photo = instruction_images[subject_index]
        return Sample(
            id=f"{subset}-{idx}",
            task=TASK_OF[subset],
            subset=subset,
            instruction=row.instruction("multi_prompt", len(instruction_images)),
            instruction_images=instruction_images,
            prompt=row.text("caption"),
            source=self._single_image(row, "source_path"),
            mask=self._single_image(row, "mask_path"),
            references=(self._image(row, "image", row.text("image")),),
            caption=row.text("target_caption"),
            subject_photo=subject_photo,
            object=_detector_prompt(row),
            meta={"idx": idx, "subset": subset, "subject_index": subject_index},
        )

    def _single_image(self, row: Row, field: str) -> ImageRef:
        paths = row.text_list(field)
        if len(paths) != 1:
            raise row.error(field, f"expected a list with one path, got {len(paths)}")
        return self._image(row, field, paths[0])

    def _image(self, row: Row, field: str, value: str) -> ImageRef:
        """The file a JSON path names, remapped under the root; it must exist inside the root."""
        return self.row_image(row, field, self._relative(value))

    def _relative(self, value: str) -> str:
        """Strip the placeholder prefix (or the root itself, for JSON files rewritten with real paths)."""
        prefix = self.card.extra.get("path_prefix", PLACEHOLDER_PREFIX)
        if value.startswith(prefix):
            return value[len(prefix) :]
        path = Path(value)
        for root in (self.root, self.root.resolve()):
            if path.is_absolute() and path.is_relative_to(root):
                return path.relative_to(root).as_posix()
        return value

    def data_problems(self, samples: list[Sample | BrokenSample]) -> list[str]:
        return compare_counts(
            self.name,
            {f"{s} rows": n for s, n in self._rows.items()},
            {f"{s} rows": n for s, n in self.card.expected.items()},
        )


def _detector_prompt(row: Row) -> str | None:
    """``object`` (or its twin ``entity_dino``); blank or absent → None, so the subject metrics are null."""
    text = row.optional_text("object") or row.optional_text("entity_dino") or ""
    return text.strip() or None


def _suffix_index(row: Row, field: str, paths: list[str], suffix: str) -> int:
    """The position of the one path whose file stem ends with ``suffix``."""
    hits = [i for i, p in enumerate(paths) if Path(p).stem.endswith(suffix)]
    if len(hits) != 1:
        raise row.error(field, f"expected exactly one *{suffix} file among {paths}, found {len(hits)}")
    return hits[0]
