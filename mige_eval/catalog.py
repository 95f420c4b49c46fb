"""What can be run: every benchmark and model (adapter) with its one-line description, tasks and licence,
the metric names and the convention presets, for ``mige-eval list``.

Benchmarks describe themselves in their cards (``description``, ``tasks``, ``license``), adapters in
class attributes (:attr:`~mige_eval.types.Adapter.description`, ``tasks``, ``license``). Reading them
imports the benchmark and adapter modules only, which import no model code (torch, transformers,
diffusers load when a model first runs). An entry that cannot be read (a broken plugin) is listed
with the reason instead of stopping the listing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    tasks: tuple[str, ...] = ()
    license: str = ""
    problem: str = ""  # why the entry could not be read; empty when it could

    def lines(self, width: int) -> list[str]:
        """``name  description`` and, indented below it, ``tasks: …; licence: …`` (or the problem)."""
        head = f"  {self.name:<{width}}  {self.description}".rstrip()
        if self.problem:
            return [head, f"  {'':<{width}}  cannot be loaded: {self.problem}"]
        facts = [f"tasks: {', '.join(self.tasks) or 'none'}", f"licence: {self.license or 'not stated'}"]
        return [head, f"  {'':<{width}}  {'; '.join(facts)}"]


def benchmarks() -> list[Entry]:
    from mige_eval.benchmarks.open import benchmark_class
    from mige_eval.registry import BENCHMARKS

    entries = []
    for name in BENCHMARKS.names():
        try:
            _, card = benchmark_class(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is listed with its error, the rest still shows
            entries.append(Entry(name, "", problem=f"{type(exc).__name__}: {exc}"))
            continue
        table = f" (MIGE paper, Table {card.table})" if card.table else ""
        entries.append(Entry(name, card.description + table, tuple(card.tasks), card.license))
    return entries


def models() -> list[Entry]:
    from mige_eval.registry import ADAPTERS

    entries = []
    for name in ADAPTERS.names():
        try:
            cls = ADAPTERS.load(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is listed with its error, the rest still shows
            entries.append(Entry(name, "", problem=f"{type(exc).__name__}: {exc}"))
            continue
        entries.append(
            Entry(
                name,
                getattr(cls, "description", ""),
                tuple(sorted(getattr(cls, "tasks", ()))),
                getattr(cls, "license", ""),
            )
        )
    return entries


def metrics() -> list[Entry]:
    from mige_eval.metrics import METRICS

    return [Entry(name, "") for name in METRICS]


def presets() -> list[Entry]:
    """Every convention area: its default, then the options ``--preset NAME`` chooses."""
    from mige_eval.presets import AREAS, GENERATION_AREAS

    return [
        Entry(
            area,
            f"{options[0]} (default), "
            + ", ".join(options[1:])
            + (" — changes the images" if area in GENERATION_AREAS else ""),
        )
        for area, options in AREAS.items()
    ]


#: ``mige-eval list WHAT`` → the function that lists it.
GROUPS = {"benches": benchmarks, "models": models, "metrics": metrics, "presets": presets}


def render(groups: list[str]) -> str:
    """The text of ``mige-eval list``: each group's entries, names aligned."""
    out = []
    for group in groups:
        entries = GROUPS[group]()
        out.append(f"{group}:")
        width = max((len(e.name) for e in entries), default=0)
        for entry in entries:
            if group in ("benches", "models"):
                out += entry.lines(width)
            else:
                out.append(f"  {entry.name:<{width}}  {entry.description}".rstrip())
    return "\n".join(out) + "\n"
