"""Named metric and benchmark conventions: one default per area, options chosen with ``--preset NAME``.

Every area has exactly one active option. An area belongs to one of two stages: *generation* areas
change what a model is asked to do (a run directory made under other generation settings is refused),
*scoring* areas change only how its outputs are scored (other options are kept apart as another scoring
configuration of the same run). ``run.json`` records them all; reports print the non-default ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mige_eval.names import did_you_mean

#: area -> (default, *options). Option names are unique across areas, so a name alone picks its area.
AREAS: dict[str, tuple[str, ...]] = {
    "clip_backbone": ("clip-b32", "clip-l14"),
    "dino_backbone": ("dino-s16", "dino-s8"),
    "precision": ("fp32", "fp16", "bf16"),
    "scale": ("cosine", "x100-clamp-mean", "clamp-per-sample"),
    "long_text": ("truncate-eot", "strict"),
    "clip_dir": ("normalize-diff", "raw-diff", "ip2p"),
    "clip_dir_zero": ("null", "zero"),
    "pixel_geometry": ("stretch", "center-crop-ref"),
    "output_storage": ("png", "jpeg75"),
    "black_outputs": ("keep", "skip-black"),
    "magicbrush_setting": ("single-turn", "multi-turn"),
    "dreambench_reference": ("dreambooth", "single-reference"),
    "migebench_subject": ("entity-black", "entity-white"),
    "detector": ("gdino-base", "gdino-tiny"),
    "dreambench_input": ("first-photo", "mige-examples"),
    "dreambench_input_form": ("photo", "segmented"),
}

#: Areas that change the model's inputs: part of a run's generation identity, not of a scoring configuration.
GENERATION_AREAS = frozenset({"magicbrush_setting", "dreambench_input", "dreambench_input_form"})

#: Areas that only a benchmark's loader reads (its ``preset_areas``); another benchmark refuses their options.
BENCH_AREAS = frozenset(
    {"magicbrush_setting", "dreambench_reference", "dreambench_input", "dreambench_input_form", "migebench_subject"}
)

#: Benchmark options with a dedicated flag (``--emu-caption-filter``) and their defaults.
BENCH_OPTION_DEFAULTS: dict[str, str] = {"emu_caption_filter": "text"}

#: Presets that stand for a backbone: they set the model id unless ``--clip-model`` etc. say otherwise.
BACKBONE_IDS: dict[str, str] = {
    "clip-b32": "openai/clip-vit-base-patch32",
    "clip-l14": "openai/clip-vit-large-patch14",
    "dino-s16": "facebook/dino-vits16",
    "dino-s8": "facebook/dino-vits8",
    "gdino-base": "IDEA-Research/grounding-dino-base",
    "gdino-tiny": "IDEA-Research/grounding-dino-tiny",
}

_AREA_OF = {name: area for area, names in AREAS.items() for name in names}


class PresetError(ValueError):
    """An unknown preset, or two presets for the same area."""


@dataclass(frozen=True)
class Presets:
    """The active option of every area."""

    active: Mapping[str, str]

    @classmethod
    def from_names(cls, names: Iterable[str] = ()) -> Presets:
        chosen: dict[str, str] = {}
        for raw in names:
            for name in (part.strip() for part in raw.split(",")):
                if not name:
                    continue
                area = _AREA_OF.get(name)
                if area is None:
                    raise PresetError(
                        f"unknown preset {name!r}.{did_you_mean(name, _AREA_OF)} "
                        f"Known presets: {', '.join(sorted(_AREA_OF))}"
                    )
                if area in chosen and chosen[area] != name:
                    raise PresetError(
                        f"presets {chosen[area]!r} and {name!r} both set {area}; choose one of {', '.join(AREAS[area])}"
                    )
                chosen[area] = name
        return cls({area: chosen.get(area, options[0]) for area, options in AREAS.items()})

    def __getitem__(self, area: str) -> str:
        return self.active[area]

    def non_default(self) -> list[str]:
        """The options that differ from the defaults, in area order (for report captions)."""
        return [self.active[a] for a, options in AREAS.items() if self.active[a] != options[0]]

    def of(self, areas: Iterable[str]) -> dict[str, str]:
        """The active options of ``areas``."""
        return {area: self.active[area] for area in areas}

    def foreign(self, areas: Iterable[str]) -> list[str]:
        """Non-default options of benchmark-specific areas outside ``areas`` (those a loader reads)."""
        return [self.active[a] for a in sorted(BENCH_AREAS - set(areas)) if self.active[a] != AREAS[a][0]]

    def to_json(self) -> dict[str, str]:
        return dict(self.active)
