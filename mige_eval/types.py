"""The data that flows through mige-eval: samples, requests and the adapter contract.

A benchmark yields :class:`Sample` records (cheap: images are referenced, not decoded). The runner
turns each into a :class:`Request` holding only what a model may see (never references or targets),
hands batches to an :class:`Adapter`, and scores the returned images against the sample.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from PIL import Image

    from mige_eval.images import ImageRef

#: ``subject``: subject-driven generation on a blank canvas; ``edit``: instruction editing of a source;
#: ``subject_add`` / ``subject_replace``: put the instructed subject into a source image (MIGEBench).
TASKS = ("subject", "edit", "subject_add", "subject_replace")

#: Placeholder that marks where each instruction image goes in a multimodal instruction.
PLACEHOLDER = "<imagehere>"


def count_placeholders(instruction: str) -> int:
    """Number of ``<imagehere>`` slots; matching is case-insensitive, as MIGE's processor lower-cases."""
    return instruction.lower().count(PLACEHOLDER)


@dataclass(frozen=True)
class Sample:
    """One benchmark item. ``id`` is unique within the benchmark and safe as a file name."""

    id: str
    task: str
    subset: str
    instruction: str
    instruction_images: tuple[ImageRef, ...] = ()
    prompt: str = ""
    source: ImageRef | None = None
    mask: ImageRef | None = None
    references: tuple[ImageRef, ...] = ()
    caption: str | None = None
    input_caption: str | None = None
    output_caption: str | None = None
    subject_photo: ImageRef | None = None
    object: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"sample {self.id!r}: task {self.task!r} is not one of {', '.join(TASKS)}")


@dataclass(frozen=True)
class BrokenSample:
    """A benchmark row that could not be turned into a :class:`Sample`; recorded as a failed sample."""

    id: str
    task: str
    subset: str
    error: str


@dataclass
class Request:
    """What an adapter receives for one sample: the model's inputs, decoded, and nothing to score against.

    ``source`` is ``None`` for a blank canvas (subject-driven generation). ``size`` is the output size
    the benchmark asks for as (width, height), or ``None`` for the model's native size.
    """

    id: str
    task: str
    subset: str
    instruction: str
    instruction_images: list[Image.Image]
    prompt: str
    source: Image.Image | None
    mask: Image.Image | None
    object: str | None
    seed: int
    size: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Adapter(abc.ABC):
    """A model behind one interface.

    Subclasses set ``name`` and ``tasks``, take their options as keyword arguments (``--model-arg
    key=value`` arrives here), load weights lazily on the first :meth:`generate` call, and return
    one PIL image per request, in order. :meth:`config` is everything that changes the outputs; it
    goes into ``run.json`` and decides whether an existing run directory can be resumed.
    """

    name: ClassVar[str] = ""
    tasks: ClassVar[frozenset[str]] = frozenset()
    #: One line for ``mige-eval list``: what the model is (and the paper or model card it comes from).
    description: ClassVar[str] = ""
    #: The licence of the weights the adapter loads, as their model card states it (``mige-eval list``
    #: shows it; say "non-commercial" where it is).
    license: ClassVar[str] = ""

    @abc.abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        """Return one image per request, in the order given."""

    def config(self) -> dict[str, Any]:
        """JSON-able settings that change the outputs (model id, revision, steps, guidance, ...)."""
        return {}
