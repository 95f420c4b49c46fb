"""Benchmark cards (declarative YAML) and the small base class every loader extends.

A card says where the data lives (dataset id and pinned revision), which tasks, subsets and metrics
the benchmark has, the sample counts to check, and the paper table it belongs to. The loader turns a
local copy of the published layout into :class:`~mige_eval.types.Sample` records, lazily.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml

from mige_eval.images import ImageRef
from mige_eval.presets import GENERATION_AREAS, Presets
from mige_eval.types import TASKS, BrokenSample, Sample

if TYPE_CHECKING:
    from PIL import Image

    from mige_eval.benchmarks.rows import Row
    from mige_eval.metrics.base import ScoringContext
    from mige_eval.types import Request

CARDS_DIR = Path(__file__).resolve().parent / "cards"

#: How the command that is running takes a benchmark's data folder, for messages: ``--data DIR`` (run, score,
#: verify); ``mige-eval reproduce`` sets ``--data-root DIR (DIR/{bench})``, one folder per benchmark.
DATA_OPTION: ContextVar[str] = ContextVar("mige_eval_data_option", default="--data DIR")


def data_option(bench: str) -> str:
    """The option that gives ``bench``'s data folder, as the running command spells it."""
    return DATA_OPTION.get().format(bench=bench)


@contextlib.contextmanager
def data_option_spelled(spelling: str) -> Iterator[None]:
    """Within the block, messages name the data folder option ``spelling`` (``{bench}`` is filled in)."""
    token = DATA_OPTION.set(spelling)
    try:
        yield
    finally:
        DATA_OPTION.reset(token)


class DataError(ValueError):
    """The dataset folder is missing or not in the published layout; the message names what is wrong."""


@dataclass(frozen=True)
class Card:
    name: str
    description: str
    tasks: tuple[str, ...]
    metrics: tuple[str, ...]
    default_metrics: tuple[str, ...]
    source: dict[str, Any]
    table: str = ""
    license: str = ""
    subsets: tuple[str, ...] = ()
    expected: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    loader: str | None = None
    path: Path | None = None

    @classmethod
    def from_yaml(cls, path: Path) -> Card:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"cannot read benchmark card {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise DataError(f"benchmark card {path} is not a mapping")
        missing = [k for k in ("name", "description", "tasks", "metrics", "source") if k not in raw]
        if missing:
            raise DataError(f"benchmark card {path} lacks the field(s) {', '.join(missing)}")
        bad_tasks = [t for t in raw["tasks"] if t not in TASKS]
        if bad_tasks:
            raise DataError(f"benchmark card {path}: unknown task(s) {bad_tasks}; tasks are {', '.join(TASKS)}")
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra", "path")}
        return cls(
            name=raw["name"],
            description=raw["description"],
            tasks=tuple(raw["tasks"]),
            metrics=tuple(raw["metrics"]),
            default_metrics=tuple(raw.get("default_metrics", raw["metrics"])),
            source=dict(raw["source"]),
            table=str(raw.get("table", "")),
            license=raw.get("license", ""),
            subsets=tuple(raw.get("subsets", ())),
            expected=dict(raw.get("expected", {})),
            extra={k: v for k, v in raw.items() if k not in known},
            loader=raw.get("loader"),
            path=path,
        )


class Benchmark(abc.ABC):
    """A loader over a local copy of one benchmark. Subclasses set ``card_file`` and write :meth:`samples`."""

    card_file: ClassVar[str]
    #: What the bootstrap resamples when samples are not independent (``sample``: each sample is a unit;
    #: DreamBench resamples subjects, whose 25 prompts share one input photo). See :meth:`cluster`.
    cluster_unit: ClassVar[str] = "sample"
    #: The benchmark-specific preset areas this loader reads (``mige_eval.presets.BENCH_AREAS``).
    preset_areas: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        card: Card,
        data: Path | None = None,
        presets: Presets | None = None,
        options: dict[str, Any] | None = None,
    ):
        self.card = card
        self.presets = presets or Presets.from_names()
        self.options = dict(options or {})
        self._data = Path(data).expanduser() if data is not None else None
        self._root: Path | None = None

    @classmethod
    def builtin_card(cls) -> Card:
        """The loader's own card: ``card_file`` beside the module that defines the class (a plugin's package),
        else in mige-eval's ``cards/`` folder (the built-in benchmarks)."""
        own = Path(inspect.getfile(cls)).resolve().parent / cls.card_file
        return Card.from_yaml(own if own.is_file() else CARDS_DIR / cls.card_file)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def root(self) -> Path:
        """The dataset folder: ``--data``; else the default location; else, for a card whose source is a
        Hugging Face dataset, its snapshot in the HF cache (downloaded if needed and allowed)."""
        if self._root is None:
            self._root = self._locate_root()
        return self._root

    def _locate_root(self) -> Path:
        root = self._data if self._data is not None else self.default_root()
        if root.is_dir():
            return root
        if self._data is None and self.card.source.get("kind") == "huggingface":
            from mige_eval.benchmarks.fetch import hub_snapshot

            return hub_snapshot(self.card.source, name=self.name)
        raise DataError(
            f"{self.name}: dataset folder {root} does not exist. "
            + (f"Fetch it with `mige-eval download --bench {self.name}`, or " if self._data is None else "")
            + f"pass {data_option(self.name)} pointing at a copy in the published layout "
            f"({self.card.source.get('layout', 'see the benchmark card')})."
        )

    def default_root(self) -> Path:
        """Where ``mige-eval download`` puts the data: ``$MIGE_EVAL_DATA/<bench>`` or the user data dir."""
        base = os.environ.get("MIGE_EVAL_DATA")
        if base:
            return Path(base).expanduser() / self.name
        from platformdirs import user_data_dir

        return Path(user_data_dir("mige-eval")) / "data" / self.name

    def file(self, relative: str | os.PathLike, *, what: str) -> Path:
        """A path inside the dataset root; a path escaping the root is refused, whatever it resolves to
        (links may lead only into the HF cache's blob store when the root is a cache snapshot)."""
        root = self.root
        return resolve_inside(root, relative, what=f"{self.name} {what}", links_within=hf_cache_area(root))

    def row_image(self, row: Row, field: str, relative: str | os.PathLike) -> ImageRef:
        """The image file a row's ``field`` names, inside the root and existing; else a :class:`RowError`
        naming the row and the field (so the one sample fails)."""
        try:
            path = self.file(relative, what="image")
        except DataError as exc:
            raise row.error(field, str(exc)) from None
        label = Path(relative).as_posix()
        if not path.is_file():
            raise row.error(field, f"file {label} does not exist under {self.root}")
        return ImageRef.from_path(path, label)

    @abc.abstractmethod
    def samples(self) -> Iterator[Sample | BrokenSample]:
        """Every sample in benchmark order; a row that cannot be used yields a :class:`BrokenSample`."""

    def _areas(self, generation: bool) -> list[str]:
        return [a for a in self.preset_areas if (a in GENERATION_AREAS) == generation]

    def generation_settings(self, ctx: ScoringContext) -> dict[str, Any]:
        """What, besides the adapter and the seed, decides this benchmark's images: the data source and the
        options of its generation areas. Part of a run's identity: another value refuses the run directory."""
        return {"source": self.card.source, **self.presets.of(self._areas(generation=True))}

    def scoring_settings(self) -> dict[str, Any]:
        """The benchmark's own options that change scores but not images (its scoring areas, filters);
        part of every scoring configuration on this benchmark."""
        return self.presets.of(self._areas(generation=False))

    def cluster(self, sample: Sample | BrokenSample) -> str | None:
        """The resampling unit of a sample for confidence intervals; ``None``: the sample is its own unit."""
        return None

    def exclusions(self, sample: Sample) -> dict[str, str]:
        """Metrics whose value this sample must not contribute, by this benchmark's rules: metric name (or
        ``"*"`` for every metric) → the flag that counts the exclusion. The value is ``null``."""
        return {}

    def prepare_inputs(self, samples: Sequence[Sample], ctx: ScoringContext) -> list[Sample]:
        """The samples as the model must receive them, just before generation (e.g. subject photos cut out
        of their background). The default passes them through."""
        return list(samples)

    def generate(
        self,
        generate: Callable[[list[Request]], Sequence[Image.Image]],
        requests: Sequence[Request],
        load: Callable[[ImageRef], Image.Image],
    ) -> Sequence[Image.Image]:
        """Run the adapter on the requests: one call by default; a multi-turn benchmark chains turns here.
        ``load`` decodes images the requests refer to. Exceptions from ``generate`` propagate unchanged."""
        return generate(list(requests))

    def notes(self) -> list[str]:
        """What ``summary.json`` should say about the loaded data (e.g. rows a filter dropped); call after
        :meth:`samples` has been consumed."""
        return []

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the data of a run in ``run.json``: source id and revision, and the local root."""
        return {"source": self.card.source, "data": str(self.root)}

    def download(self, to: Path | None = None) -> Path:
        """Fetch the published data and return the folder to pass as ``--data`` (or, for a Hugging Face
        source without ``to``, the HF cache snapshot that runs without ``--data`` read). Raises
        :class:`DataError` with instructions where the data cannot be fetched automatically."""
        from mige_eval.benchmarks import fetch

        source = self.card.source
        target = Path(to).expanduser() if to is not None else None
        if source.get("kind") == "huggingface":
            path = fetch.hub_snapshot(source, name=self.name, local_dir=target)
        elif source.get("archive"):
            path = fetch.github_archive(source, name=self.name, to=target or self.default_root())
        else:
            help_text = source.get("download_help", "see docs/benchmarks.md")
            raise DataError(f"{self.name}: cannot be downloaded automatically. {help_text}")
        if target is not None or source.get("kind") != "huggingface":
            fetch.write_manifest(path, source)
        return path

    def verify(self) -> list[str]:
        """Problems in the local copy, one line each (empty: OK): a layout the loader refuses, rows that
        cannot be used, counts that differ from the card, files that differ from a checksum manifest."""
        from mige_eval.benchmarks import fetch

        try:
            samples = list(self.samples())
        except DataError as exc:
            return [str(exc)]
        problems = [f"sample {s.id}: {s.error}" for s in samples if isinstance(s, BrokenSample)]
        problems += self.data_problems(samples)
        try:
            problems += fetch.checksum_problems(self.root)
        except DataError as exc:
            problems.append(str(exc))
        return problems

    def data_problems(self, samples: list[Sample | BrokenSample]) -> list[str]:
        """What differs from the card's promises: counts against ``expected`` (the base checks ``samples``);
        loaders add what their layout promises (image sizes, per-subset counts, ...)."""
        return compare_counts(self.name, {"samples": len(samples)}, self.card.expected)


def compare_counts(name: str, actual: dict[str, int], expected: dict[str, Any]) -> list[str]:
    """One line per count the card states that the data does not have."""
    return [
        f"{name}: {key} is {actual[key]}, the card expects {expected[key]}"
        for key in actual
        if key in expected and actual[key] != expected[key]
    ]


def resolve_inside(root: Path, relative: str | os.PathLike, *, what: str, links_within: Path | None = None) -> Path:
    """``root / relative``, refusing absolute paths, ``..`` that leaves ``root``, and links that resolve
    outside ``root`` (or outside ``links_within`` when given)."""
    rel = Path(relative)
    if rel.is_absolute():
        raise DataError(f"{what}: path {relative} is absolute; dataset paths must be relative to {root}")
    root_resolved = root.resolve()
    lexical = Path(os.path.normpath(root_resolved / rel))
    if lexical != root_resolved and root_resolved not in lexical.parents:
        raise DataError(f"{what}: path {relative} escapes the dataset root {root}")
    target = lexical.resolve()
    area = links_within.resolve() if links_within is not None else root_resolved
    if target != area and area not in target.parents:
        raise DataError(f"{what}: path {relative} escapes the dataset root {root} through a link to {target}")
    return target


def hf_cache_area(root: Path) -> Path | None:
    """For a snapshot in the Hugging Face cache (``<repo folder>/snapshots/<commit>``), the repo folder,
    whose ``blobs/`` the snapshot's links point into; otherwise None."""
    if root.parent.name == "snapshots" and (root.parent.parent / "blobs").is_dir():
        return root.parent.parent
    return None
