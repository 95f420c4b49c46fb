"""What every output layout shares: the result of matching outputs to samples, and the layout contract."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mige_eval.images import ImageRef

#: (sample id, sample meta): what a layout sees of a sample. Layouts read the meta fields the loaders
#: provide for them (``idx``, ``subset``, ``img_id``, ``turn``) and never change an id.
SampleKey = tuple[str, dict[str, Any]]

#: How many unmatched files or ambiguous matches messages and ``run.json`` list one by one.
SHOWN = 10


class LayoutError(ValueError):
    """The outputs cannot be matched to the samples as asked; nothing has been scored."""


def shown(items: Sequence[str], limit: int = SHOWN) -> str:
    """The first few items and how many more there are."""
    head = ", ".join(items[:limit])
    return head + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


@dataclass
class Matching:
    """The outputs one layout found for a benchmark's samples.

    ``found`` maps sample ids to their output; ``missing`` names the samples without one (and why, when
    the layout knows more than "no such file"); ``unmatched`` lists outputs no sample claims (file paths
    relative to the folder, or dataset rows); ``ambiguous`` lists samples with several candidate outputs
    and outputs claimed by several samples; ``instructions`` holds, where the layout records one (a
    dataset row), the instruction each output was made for.
    """

    layout: str
    looked_for: str
    found: dict[str, ImageRef] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    ambiguity_hint: str = ""
    instructions: dict[str, str] = field(default_factory=dict)

    def signature(self) -> frozenset[tuple[str, str]]:
        """Which output each sample gets: two layouts with the same signature are the same answer."""
        return frozenset((sample_id, ref.label) for sample_id, ref in self.found.items())

    def check_unambiguous(self) -> None:
        if self.ambiguous:
            raise LayoutError(
                f"layout {self.layout}: {len(self.ambiguous)} ambiguous match(es), so no output "
                f"can be trusted to be its sample's: {shown(self.ambiguous)}. "
                + (self.ambiguity_hint or "Remove or rename the extra files.")
            )


class Layout(abc.ABC):
    """One published way of naming a model's outputs.

    ``benches`` names the benchmarks the layout exists for (``None``: any). ``root`` is what
    ``--images`` points at: a folder, or a mapping file for the ``mapping`` layout.
    """

    name: ClassVar[str]
    benches: ClassVar[frozenset[str] | None] = None
    #: One line for ``--help`` and the docs.
    summary: ClassVar[str] = ""

    def __init__(self, root: Path, *, bench: str | None = None, select: str | None = None):
        self.root, self.bench, self.select = root, bench, select

    @classmethod
    def applies(cls, root: Path, bench: str | None) -> bool:
        """Whether ``auto`` tries this layout: the benchmark fits and ``root`` has the right kind."""
        return (cls.benches is None or bench in cls.benches) and root.is_dir()

    @abc.abstractmethod
    def match(self, samples: Sequence[SampleKey]) -> Matching:
        """Match outputs to every given sample; raises :class:`LayoutError` when the source is unreadable."""
