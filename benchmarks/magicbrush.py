"""MagicBrush test set (docs/metrics.md, magicbrush): the release archive's layout, or the hub's dev split.

Release layout (the unzipped ``test/`` folder, or its parent): ``edit_sessions.json``
``{img_id: [{"input", "mask", "output", "instruction"}, ...]}``, ``images/<img_id>/<img_id>-input.png``,
``-output{k}.png``, ``-mask{k}.png``, and ``local_descriptions.json`` / ``global_descriptions.json``
``{img_id: {file name: text}}`` (a flat ``{file name: text}`` is accepted too). Turns are paired by the
index k in the output file name, never by list or directory order.

- ``single-turn`` (default): one sample per turn, ``<img_id>-t<k>``: source = the GT input of that
  turn (``-input.png`` for k = 1, GT ``-output{k-1}.png`` after), mask = ``-mask{k}.png``, reference =
  GT ``-output{k}.png``, caption = its local description; CLIPdir captions = the global descriptions of
  the source and target files (one missing: CLIPdir null).
- ``multi-turn``: one sample per session, ``<img_id>``, whose output the model must produce by editing
  its own outputs turn after turn (:mod:`mige_eval.benchmarks.turns`). Reference and caption are those
  of the last turn; CLIPdir runs from the session input to the last turn.

Hub ``osunlp/MagicBrush`` dev split (``data/dev-*.parquet``: ``img_id``, ``turn_index``, ``source_img``,
``mask_img``, ``instruction``, ``target_img``) maps the same way but has no descriptions, so ``clip_t``
and ``clip_dir`` cannot be scored on it. For development only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mige_eval.benchmarks.base import Benchmark, DataError, compare_counts
from mige_eval.benchmarks.hubsplit import SplitTable
from mige_eval.benchmarks.rows import Row, RowError, read_json
from mige_eval.benchmarks.turns import TURNS, Turn, generate_chained
from mige_eval.images import ImageRef
from mige_eval.types import BrokenSample, Sample

SESSIONS = "edit_sessions.json"
DEV_COLUMNS = ["img_id", "turn_index", "instruction"]


@dataclass(frozen=True)
class _Edit:
    """One turn with its images resolved: what both settings build samples from."""

    index: int
    instruction: str
    source: ImageRef
    mask: ImageRef | None
    target: ImageRef
    caption: str | None = None
    input_caption: str | None = None
    output_caption: str | None = None


@dataclass(frozen=True)
class _Bad:
    """A turn record that cannot be used: ``record`` says which (``r3``: the 4th turn record)."""

    record: str
    error: str


class MagicBrushBench(Benchmark):
    card_file = "magicbrush.yaml"
    preset_areas = ("magicbrush_setting",)
    #: The turns of one image are edits of the same photo by the same annotator: not independent.
    cluster_unit = "session"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._counts: dict[str, int] = {}
        self._layout = ""

    def samples(self) -> Iterator[Sample | BrokenSample]:
        sessions_file = next((p for p in (self.root / SESSIONS, self.root / "test" / SESSIONS) if p.is_file()), None)
        self._layout = "release" if sessions_file else "dev"
        sessions = self._release(sessions_file) if sessions_file else self._hub_dev()
        self._counts = {"sessions": 0, "turns": 0}
        multi = self.presets["magicbrush_setting"] == "multi-turn"
        for img_id, turns in sessions:
            self._counts["sessions"] += 1
            self._counts["turns"] += len(turns)
            yield from (_chain(img_id, turns, self._layout) if multi else _single(img_id, turns, self._layout))

    def _release(self, sessions_file: Path) -> Iterator[tuple[str, list[_Edit | _Bad]]]:
        folder = sessions_file.parent.relative_to(self.root)
        files = {
            name: read_json(self.file(folder / name, what="file"), f"magicbrush {name}")
            for name in (SESSIONS, "local_descriptions.json", "global_descriptions.json")
        }
        for name, value in files.items():
            if not isinstance(value, dict):
                raise DataError(
                    f"magicbrush: {folder / name} must hold an object keyed by image id, got {type(value).__name__}"
                )
        local, global_ = files["local_descriptions.json"], files["global_descriptions.json"]
        for img_id, records in files[SESSIONS].items():
            where = f"{(folder / SESSIONS).as_posix()} image {img_id}"
            if not isinstance(records, list) or not records:
                yield img_id, [_Bad("r0", f"{where}: expected a non-empty list of turns, got {records!r:.60}")]
                continue
            turns = []
            for n, record in enumerate(records):
                try:
                    row = Row(record, f"{where} turn record {n}")
                    turns.append(self._release_turn(folder, img_id, row, local, global_))
                except RowError as exc:
                    turns.append(_Bad(f"r{n}", str(exc)))
            yield img_id, turns

    def _release_turn(self, folder: Path, img_id: str, row: Row, local: dict, global_: dict) -> _Edit:
        output = row.text("output")
        match = re.fullmatch(rf"{re.escape(img_id)}-output(\d+)\.png", output)
        if not match:
            raise row.error("output", f"{output!r} is not named {img_id}-output<k>.png, so its turn is unknown")
        k = int(match.group(1))
        source = row.text("input")
        expected = f"{img_id}-input.png" if k == 1 else f"{img_id}-output{k - 1}.png"
        if source != expected:
            raise row.error(
                "input",
                f"is {source!r}, but turn {k} edits {expected} (turns are paired by the index in the file names)",
            )
        caption = _describe(local, img_id, output)
        if caption is None:
            raise row.error("output", f"local_descriptions.json has no description of {output} (the CLIP-T text)")
        return _Edit(
            index=k,
            instruction=row.text("instruction"),
            source=self.row_image(row, "input", folder / "images" / img_id / source),
            mask=self.row_image(row, "mask", folder / "images" / img_id / row.text("mask")),
            target=self.row_image(row, "output", folder / "images" / img_id / output),
            caption=caption,
            input_caption=_describe(global_, img_id, source),
            output_caption=_describe(global_, img_id, output),
        )

    def _hub_dev(self) -> Iterator[tuple[str, list[_Edit | _Bad]]]:
        try:
            table = SplitTable.locate(self.root, self.card.source.get("dev", {}).get("split", "dev"), what="magicbrush")
        except DataError as exc:
            raise DataError(
                f"magicbrush: {self.root} holds neither the release layout ({SESSIONS}, images/, "
                f"*_descriptions.json, directly or in test/) nor the hub dev split. {exc}"
            ) from exc
        table.require(DEV_COLUMNS + ["source_img", "mask_img", "target_img"], "magicbrush")
        index = table.columns(DEV_COLUMNS)
        sessions: dict[str, list[_Edit | _Bad]] = {}
        for n in range(table.num_rows):
            img_id = index["img_id"][n]
            turns = sessions.setdefault(img_id if isinstance(img_id, str) and img_id else f"row{n}", [])
            row = Row({c: index[c][n] for c in DEV_COLUMNS}, table.where(n))
            try:
                turns.append(
                    _Edit(
                        index=row.integer("turn_index"),
                        instruction=row.text("instruction"),
                        source=table.image(n, "source_img"),
                        mask=table.image(n, "mask_img"),
                        target=table.image(n, "target_img"),
                    )
                )
            except RowError as exc:
                turns.append(_Bad(f"row{n}", str(exc)))
        yield from sessions.items()

    def cluster(self, sample: Sample | BrokenSample) -> str | None:
        return sample.meta.get("img_id") if isinstance(sample, Sample) else None

    def generate(self, generate, requests, load):
        """Multi-turn samples are produced by chaining the model on its own outputs (:mod:`.turns`)."""
        return generate_chained(generate, requests, load)

    def data_problems(self, samples: list[Sample | BrokenSample]) -> list[str]:
        """Session and turn counts (release or dev figures), and the release's 512x512 image size."""
        from PIL import Image

        expected = self.card.expected
        if self._layout == "dev":
            expected = {"sessions": expected.get("dev_sessions"), "turns": expected.get("dev_turns")}
        problems = compare_counts(self.name, self._counts, {k: v for k, v in expected.items() if v is not None})
        size = tuple(self.card.extra.get("image_size", (512, 512)))
        seen: set[str] = set()
        for sample in (s for s in samples if isinstance(s, Sample) and self._layout == "release"):
            for ref in (r for r in (sample.source, sample.mask, *sample.references) if r and r.label not in seen):
                seen.add(ref.label)
                with Image.open(self.file(ref.label, what="image")) as img:
                    if img.size != size:
                        problems.append(
                            f"{ref.label}: {img.width}x{img.height}, the release's images are {size[0]}x{size[1]}"
                        )
        return problems


def _single(img_id: str, turns: list[_Edit | _Bad], layout: str) -> Iterator[Sample | BrokenSample]:
    subset = "test" if layout == "release" else "dev"
    seen: set[int] = set()
    for turn in sorted(turns, key=lambda t: (isinstance(t, _Bad), getattr(t, "index", 0))):
        if isinstance(turn, _Edit) and turn.index in seen:
            turn = _Bad(f"t{turn.index}-again", f"image {img_id}: turn {turn.index} appears twice")
        if isinstance(turn, _Bad):
            yield BrokenSample(id=f"{img_id}-{turn.record}", task="edit", subset=subset, error=turn.error)
            continue
        seen.add(turn.index)
        k = turn.index
        yield Sample(
            id=f"{img_id}-t{k}",
            task="edit",
            subset=subset,
            instruction=turn.instruction,
            prompt=turn.instruction,
            source=turn.source,
            mask=turn.mask,
            references=(turn.target,),
            caption=turn.caption,
            input_caption=turn.input_caption,
            output_caption=turn.output_caption,
            meta={"img_id": img_id, "turn": k},
        )


def _chain(img_id: str, turns: list[_Edit | _Bad], layout: str) -> Iterator[Sample | BrokenSample]:
    subset = "test" if layout == "release" else "dev"
    errors = [t.error for t in turns if isinstance(t, _Bad)]
    edits = sorted((t for t in turns if isinstance(t, _Edit)), key=lambda t: t.index)
    if not errors and [e.index for e in edits] != list(range(1, len(edits) + 1)):
        errors = [
            f"image {img_id}: turn indices are {[e.index for e in edits]}; a chain needs 1..{len(edits)} "
            "(a turn is missing or repeated)"
        ]
    if errors:
        yield BrokenSample(id=img_id, task="edit", subset=subset, error="; ".join(errors))
        return
    first, last = edits[0], edits[-1]
    yield Sample(
        id=img_id,
        task="edit",
        subset=subset,
        instruction=first.instruction,
        prompt=first.instruction,
        source=first.source,
        mask=first.mask,
        references=(last.target,),
        caption=last.caption,
        input_caption=first.input_caption,
        output_caption=last.output_caption,
        meta={"img_id": img_id, "turn": last.index, TURNS: tuple(Turn(e.index, e.instruction, e.mask) for e in edits)},
    )


def _describe(table: dict, img_id: str, file_name: str) -> str | None:
    """A description from ``{img_id: {file: text}}`` or a flat ``{file: text}``; None if absent or blank."""
    entry = table.get(img_id)
    value = entry.get(file_name) if isinstance(entry, dict) else table.get(file_name)
    return value if isinstance(value, str) and value.strip() else None
