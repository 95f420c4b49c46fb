"""The MIGE paper's published numbers (shipped as ``mige_eval/published/mige_paper_tables.csv``) and
how a run's model name maps onto a published row.

The CSV has one value a line: ``table, benchmark, subset, group, method, metric, value`` (see the
README beside its source copy). A run is matched to a published row by its model name: the built-in
adapters through :data:`METHOD_OF_MODEL`, any other model when its name equals a method label up to
case and punctuation (a ``mige-eval score --name UltraEdit`` run matches "UltraEdit").

It also holds what a run must match to be compared with the published rows (:mod:`comparability`):
the size of each benchmark's evaluation set the paper's numbers were computed on, and the few
per-row conventions where a published row is known to deviate from the benchmark's defaults.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

#: Built-in adapter name -> the method labels the paper prints for it (first match in a table wins).
METHOD_OF_MODEL: dict[str, tuple[str, ...]] = {
    "copy-source": ("I-O sim",),
    "instructpix2pix": ("InstructPix2Pix",),
    "magicbrush": ("MagicBrush",),
    "omnigen": ("OmniGen", "OmniGen*"),
    "mige": ("MIGE",),
    "paint-by-example": ("PBE",),
    "blip-diffusion": ("BLIP-Diffusion",),
}


#: Samples of each benchmark's evaluation set behind the published numbers (the MIGE paper's figures:
#: Emu Edit test split, MagicBrush single-turn test turns, DreamBench 30 subjects x 25 prompts,
#: MIGEBench 500 add + 500 replace). A run over a smaller copy of a dataset is not comparable.
EVALUATION_SAMPLES: dict[str, int] = {"emuedit": 3589, "magicbrush": 1053, "dreambench": 750, "migebench": 1000}


@dataclass(frozen=True)
class Convention:
    """Options a published row used where they differ from the benchmark's defaults, and the evidence."""

    options: dict[str, str]  # preset area -> the option the row's authors used
    why: str


_JPEG = "the MIGE authors saved their outputs as JPEG files (quality 75) and scored those"
#: (published method, benchmark) -> the row's convention. A run of that method may use these options
#: (or the defaults) and still be compared with the row. Only conventions the authors' own code or
#: inputs document are listed; every other row is compared under the benchmark's defaults.
ROW_CONVENTIONS: dict[tuple[str, str], Convention] = {
    ("MIGE", "emuedit"): Convention({"output_storage": "jpeg75"}, _JPEG + " (their edit.py reads <idx>.jpg)"),
    ("MIGE", "magicbrush"): Convention({"output_storage": "jpeg75"}, _JPEG),
    ("MIGE", "migebench"): Convention({"output_storage": "jpeg75"}, _JPEG),
    ("MIGE", "dreambench"): Convention(
        {"output_storage": "jpeg75", "dreambench_input": "mige-examples", "dreambench_input_form": "segmented"},
        _JPEG + "; their published DreamBench inputs are subjects segmented on black, cut from dog/02.jpg, "
        "dog2/02.jpg and dog3/05.jpg",
    ),
}


@dataclass(frozen=True)
class PublishedValue:
    table: str
    benchmark: str
    subset: str
    group: str
    method: str
    metric: str
    value: float


def _parse(text: str, origin: str) -> list[PublishedValue]:
    rows = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
        try:
            rows.append(
                PublishedValue(
                    row["table"],
                    row["benchmark"],
                    row["subset"],
                    row["group"],
                    row["method"],
                    row["metric"],
                    float(row["value"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{origin} line {line}: not a published value ({exc})") from exc
    return rows


@lru_cache(maxsize=1)
def published_values() -> tuple[PublishedValue, ...]:
    """Every number of Tables 1, 2, 3a and 3b, in the paper's row order."""
    ref = resources.files("mige_eval").joinpath("published", "mige_paper_tables.csv")
    return tuple(_parse(ref.read_text(encoding="utf-8"), "mige_eval/published/mige_paper_tables.csv"))


def methods_on(benchmark: str) -> list[str]:
    """The published methods with a value on ``benchmark``, in the paper's order."""
    return list(dict.fromkeys(v.method for v in published_values() if v.benchmark == benchmark))


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_method(model: str, methods: list[str]) -> str | None:
    """The published method label a run of ``model`` reproduces, among ``methods`` (one table's rows)."""
    for label in METHOD_OF_MODEL.get(model, ()):
        if label in methods:
            return label
    by_key = {_key(m): m for m in methods}
    return by_key.get(_key(model))
