"""Turn a ``--bench`` value (a name, an entry point, ``module:Class`` or a card file) into a loader."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from mige_eval.benchmarks.base import Benchmark, Card, DataError
from mige_eval.presets import Presets
from mige_eval.registry import BENCHMARKS, import_spec


def benchmark_class(name: str) -> tuple[type[Benchmark], Card]:
    """The loader class and its card, importing only the loader's module."""
    target = BENCHMARKS.target(name)
    if target.endswith((".yaml", ".yml")):
        card = Card.from_yaml(Path(target).expanduser())
        if not card.loader:
            raise DataError(f"benchmark card {target} names no 'loader: module:Class'")
        cls = import_spec(card.loader, what=f"loader of benchmark card {target}")
    else:
        cls = import_spec(target, what=f"benchmark {name!r}")
        card = None
    if not (inspect.isclass(cls) and issubclass(cls, Benchmark)):
        raise DataError(f"benchmark {name!r} resolves to {cls!r}, which is not a mige_eval Benchmark subclass")
    return cls, card or cls.builtin_card()


def open_benchmark(
    name: str, *, data: Path | None = None, presets: Presets | None = None, options: dict[str, Any] | None = None
) -> Benchmark:
    cls, card = benchmark_class(name)
    return cls(card, data=data, presets=presets, options=options)
