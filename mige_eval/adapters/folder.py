"""``folder``: score outputs made elsewhere (``mige-eval score --images DIR``), in their published layout.

The layout (:mod:`mige_eval.layouts`: flat ``<id>.png``, the MagicBrush script's tree, MIGE's
``<idx>.jpg``, Emu Edit's generations dataset, a mapping file; ``auto`` detects) maps outputs to the
benchmark's sample ids. :meth:`Folder.preflight` matches them before any work: nothing found or an
ambiguous match refuses the run; files no sample claims and samples without an output are logged.
:meth:`Folder.existing_outputs` hands the runner each output's bytes, which the run directory stores
as they are (no re-encoding) and decodes only to score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from mige_eval.images import EncodedImage, ImageDecodeError
from mige_eval.layouts import CHOICES, Matching, resolve
from mige_eval.layouts.base import SHOWN, SampleKey, shown
from mige_eval.types import TASKS, Adapter, Request, Sample


class Folder(Adapter):
    name = "folder"
    tasks = frozenset(TASKS)
    description = "outputs made elsewhere, read in their published layout (mige-eval score --images)"
    license = "none (no weights)"

    def __init__(
        self, *, images: str | Path, layout: str = "auto", bench: str | None = None, select: str | None = None
    ):
        self.images = Path(images).expanduser()
        if not self.images.exists():
            raise ValueError(f"--images {self.images} does not exist")
        if layout not in CHOICES:
            raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(CHOICES)}")
        self.layout, self.bench, self.select = layout, bench, select
        self._matching: Matching | None = None
        self._missing_here: list[str] = []

    def _match(self, samples: Sequence[SampleKey]) -> Matching:
        return resolve(self.images, self.layout, bench=self.bench, samples=samples, select=self.select)

    def preflight(self, samples: Sequence[SampleKey], benchmark: Sequence[SampleKey] | None = None) -> list[str]:
        """Match outputs to the benchmark's samples (all of them, so that files of samples outside this
        run's ``--limit`` or shard are not called unmatched) before any work; returns the log lines.

        Raises :class:`~mige_eval.layouts.LayoutError` when no output matches or a match is ambiguous.
        """
        matching = self._matching = self._match(benchmark or samples)
        self._missing_here = [i for i, _ in samples if i not in matching.found]
        detected = " (detected)" if self.layout == "auto" else ""
        lines = [
            f"layout {matching.layout}{detected}: {matching.looked_for}; outputs found for "
            f"{len(matching.found)} of the benchmark's {len(benchmark or samples)} samples"
        ]
        if matching.unmatched:
            lines.append(
                f"{len(matching.unmatched)} output(s) in {self.images} match no sample: {shown(matching.unmatched)}"
            )
        if self._missing_here:
            lines.append(
                f"{len(self._missing_here)} of {len(samples)} samples to score have no output (they fail): "
                f"{shown(self._missing_here)}"
            )
        return lines

    def existing_outputs(self, samples: Sequence[Sample | Request]) -> list[EncodedImage | Exception]:
        """Each sample's output as its file's bytes (or why there is none), for the runner to store as is."""
        matching = self._matching or self._match([(s.id, s.meta) for s in samples])
        out: list[EncodedImage | Exception] = []
        for sample in samples:
            ref = matching.found.get(sample.id)
            made_for = matching.instructions.get(sample.id)
            if ref is None:
                reason = matching.missing.get(sample.id) or f"looked for {matching.looked_for}"
                out.append(LookupError(f"no output for sample {sample.id}: {reason}"))
            elif made_for is not None and made_for.strip() != sample.instruction.strip():
                out.append(
                    ValueError(
                        f"{ref.label} was made for the instruction {made_for!r}, but sample {sample.id} "
                        f"asks {sample.instruction!r}: the outputs belong to other rows of the dataset"
                    )
                )
            else:
                try:
                    out.append(EncodedImage(ref.read(), ref.label))
                except OSError as exc:
                    out.append(ImageDecodeError(f"cannot read output {ref.label} of sample {sample.id}: {exc}"))
        return out

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        """The decoded outputs (the adapter contract); the runner uses :meth:`existing_outputs` instead."""
        images = []
        for output in self.existing_outputs(requests):
            if isinstance(output, Exception):
                raise output
            images.append(output.open()[0])
        return images

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records of the matching: the layout asked and used, counts, what was left over."""
        info: dict[str, Any] = {"images": str(self.images.resolve()), "layout": self.layout}
        matching = self._matching
        if matching is not None:
            info.update(
                detected=matching.layout,
                looked_for=matching.looked_for,
                matched=len(matching.found),
                missing_here=len(self._missing_here),
                missing_here_first=self._missing_here[:SHOWN],
                unmatched=len(matching.unmatched),
                unmatched_first=matching.unmatched[:SHOWN],
            )
        return info

    def config(self) -> dict:
        config: dict[str, Any] = {"images": str(self.images.resolve())}
        if self.layout != "auto":
            config["layout"] = self.layout
        if self.select is not None:
            config["select"] = self.select
        return config
