"""The MIGE paper's published numbers (shipped as ``mige_eval/published/mige_paper_tables.csv``) and
how a run's model name maps onto a published row.

The CSV has one value a line: ``table, benchmark, subset, group, method, metric, value`` (see the
README beside its source copy). A run is matched to a published row by its model name: the built-in
adapters through :data:`METHOD_OF_MODEL`, any other model when its name equals a method label up to
case and punctuation (a ``mige-eval score --name UltraEdit`` run matches "UltraEdit").
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
            rows.append(PublishedValue(row["table"], row["benchmark"], row["subset"], row["group"],
                                       row["method"], row["metric"], float(row["value"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{origin} line {line}: not a published value ({exc})") from exc
    return rows


@lru_cache(maxsize=1)
def published_values() -> tuple[PublishedValue, ...]:
    """Every number of Tables 1, 2, 3a and 3b, in the paper's row order."""
    ref = resources.files("mige_eval").joinpath("published", "mige_paper_tables.csv")
    return tuple(_parse(ref.read_text(encoding="utf-8"), "mige_eval/published/mige_paper_tables.csv"))


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_method(model: str, methods: list[str]) -> str | None:
    """The published method label a run of ``model`` reproduces, among ``methods`` (one table's rows)."""
    for label in METHOD_OF_MODEL.get(model, ()):
        if label in methods:
            return label
    by_key = {_key(m): m for m in methods}
    return by_key.get(_key(model))
