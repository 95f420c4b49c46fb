"""A sample's record: the events the journals hold for it, folded, and the view ``samples.jsonl`` shows.

Journals are append-only. Each line is one *event* for one sample, stamped with the time it was
written: a generation attempt (``image``, ``error``, and ``native_size`` when the model ran at another size
than the one stored) and/or the scores it computed, keyed by scoring
configuration (``"<metric>@<digest of its settings>"``, :mod:`mige_eval.scoring`). Folding a sample's
events in time order gives its record: the latest generation attempt, and for every scoring key the
latest entry. Nothing is ever overwritten on disk, so every value a run has computed stays in it, and a
later scoring with other backbones adds entries beside the earlier ones.

The *view* of a record shows one value per metric, the run's current configuration of that metric
(``run.json`` ``current``): ``metrics``, ``flags``, ``error``, ``references`` and ``caption`` come from
those entries; ``scores`` keeps every entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

#: Fields every event repeats (the last event's win).
_BASE = ("id", "subset", "task", "seed", "cluster")


def now() -> str:
    """An event time stamp: UTC, microseconds, sortable as text."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def fold(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by sample id from events in any order (sorted by time; ties keep their order)."""
    records: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: str(e.get("time", ""))):
        record = records.setdefault(event["id"], {"image": None, "error": None, "scores": {}})
        record.update({k: event[k] for k in _BASE if k in event})
        if "image" in event or "error" in event:
            record["image"], record["error"] = event.get("image"), event.get("error")
            record["native_size"] = event.get("native_size")
        record["scores"].update(event.get("scores") or {})
    return records


def is_generated(record: Mapping[str, Any] | None) -> bool:
    """The sample has an image and no generation error."""
    return bool(record and record.get("image") and not record.get("error"))


def has_score(record: Mapping[str, Any] | None, key: str) -> bool:
    """The record holds a usable entry for ``key`` (a value or an undefined value, not a failure)."""
    entry = (record or {}).get("scores", {}).get(key)
    return entry is not None and not entry.get("error")


def view(record: Mapping[str, Any], current: Mapping[str, str]) -> dict[str, Any]:
    """The ``samples.jsonl`` line of a record under the current scoring keys (metric → key)."""
    scores = record.get("scores") or {}
    entries = {metric: scores[key] for metric, key in current.items() if key in scores}
    error = record.get("error") or next(
        (f"metric {metric}: {entry['error']}" for metric, entry in entries.items() if entry.get("error")), None
    )
    flags: list[str] = []
    for entry in entries.values():
        flags += [f for f in entry.get("flags") or () if f not in flags]
    out = {k: record[k] for k in ("id", "subset", "task", "cluster") if record.get(k) is not None}
    out.update(
        {
            "image": record.get("image"),
            **({"native_size": record["native_size"]} if record.get("native_size") else {}),
            "seed": record.get("seed"),
            "references": next((e["references"] for e in entries.values() if e.get("references")), []),
            "caption": next((e["caption"] for e in entries.values() if e.get("caption")), None),
            "metrics": {}
            if record.get("error")
            else {metric: entry.get("value") for metric, entry in entries.items() if not entry.get("error")},
            "flags": flags,
            "error": error,
            "scores": dict(scores),
        }
    )
    return out
