"""What a metric is, and the context every metric of a run shares.

A metric is a pure function (in its module) plus a small :class:`Metric` class that declares the
sample fields it needs, whether higher is better, and turns a batch of :class:`ScoreItem` into one
:class:`Score` per item. Shared, expensive things (decoded references, backbones, the feature cache)
live in the :class:`ScoringContext`, created once per run and built lazily.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mige_eval.images import ImageMemo
from mige_eval.presets import Presets

if TYPE_CHECKING:
    from PIL import Image

    from mige_eval.images import ImageRef
    from mige_eval.types import Sample


@dataclass(frozen=True)
class Score:
    """One metric's value for one sample; ``None`` = undefined (excluded from means, counted).

    ``flags`` name what a reader of the summary should know (e.g. ``caption_truncated``).
    """

    value: float | None
    flags: tuple[str, ...] = ()


@dataclass
class ScoreItem:
    """A sample and the output image it is scored on (decoded RGB, output-storage preset applied).

    ``derived`` holds what several metrics of the same item share (e.g. L1 and L2 share the aligned
    pixel arrays), so it is computed once per item and dropped with it.
    """

    sample: Sample
    output: Image.Image
    derived: dict[Any, Any] = field(default_factory=dict)


@dataclass
class ScoringOptions:
    """Backbone choices and scoring resources shared by ``run``, ``score`` and ``reproduce``."""

    clip_model: str | None = None
    dino_model: str | None = None
    detector_model: str | None = None
    sam_model: str | None = None
    device: str = "auto"
    batch_size: int = 16
    cache_dir: Path | None = None
    use_cache: bool = True
    #: Judge metrics: a local model (hub id or folder; default Qwen2.5-VL-7B-Instruct), or with ``judge_url``
    #: the model name sent to that OpenAI-compatible server (default: the one it serves).
    judge_model: str | None = None
    judge_url: str | None = None
    #: Name of the environment variable holding the server's API key (the key itself is never stored).
    judge_api_key_env: str = "MIGE_EVAL_JUDGE_API_KEY"
    judge_concurrency: int = 8
    judge_timeout: float = 120.0
    judge_retries: int = 4
    judge_dtype: str = "auto"
    #: At most this many new tokens per judge answer (GEdit-Bench's local judge: 512).
    judge_max_tokens: int = 512


class ScoringContext:
    """Per-run state shared by all metrics: presets, options, decoded references, lazy services."""

    def __init__(
        self,
        presets: Presets,
        options: ScoringOptions | None = None,
        run_dir: Path | None = None,
        memo: ImageMemo | None = None,
    ):
        self.presets = presets
        self.options = options or ScoringOptions()
        self.run_dir = run_dir
        self.memo = memo or ImageMemo()
        self._services: dict[str, Any] = {}

    def load(self, ref: ImageRef) -> Image.Image:
        """A reference decoded by the one decoding rule, once while it is in use."""
        return self.memo.load(ref)

    def service(self, key: str, factory: Callable[[], Any]) -> Any:
        """A shared object built on first use (a backbone, the feature store), once per run."""
        if key not in self._services:
            self._services[key] = factory()
        return self._services[key]

    def services(self) -> dict[str, Any]:
        """The shared objects built so far (e.g. for recording backbone revisions in ``run.json``)."""
        return dict(self._services)

    def close(self) -> None:
        for service in self._services.values():
            close = getattr(service, "close", None)
            if callable(close):
                close()
        self._services.clear()


class Metric(abc.ABC):
    """A metric of the run. Subclasses set the class attributes and implement :meth:`compute`."""

    name: ClassVar[str]
    #: Column label in reports (under a header naming the benchmark or "Subject preserving").
    label: ClassVar[str]
    higher_is_better: ClassVar[bool]
    #: Sample fields that must be set for the metric to be computed at all (else the benchmark is refused).
    needs: ClassVar[tuple[str, ...]] = ()
    #: A cosine similarity: the ``scale`` preset applies to it.
    cosine: ClassVar[bool] = False
    #: Preset areas whose option changes this metric's values (part of its scoring configuration).
    preset_areas: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: ScoringContext):
        self.ctx = ctx

    def settings(self) -> dict[str, Any]:
        """Everything this metric's values depend on besides the sample and its output image.

        The options of its preset areas and, in subclasses, what identifies the models it uses (backbone
        id and revision, a judge's id, revision, prompt version and decoding). Values computed under other
        settings are kept apart. Resolving them may locate model files (and raise ``MissingWeightsError``
        when they are absent) but must not load weights.
        """
        return {area: self.ctx.presets[area] for area in self.preset_areas}

    @abc.abstractmethod
    def compute(self, items: Sequence[ScoreItem]) -> list[Score]:
        """One :class:`Score` per item, in order. Raise to fail the batch; the scorer then retries per item."""
