"""``run.json``: what a run directory's images depend on, how its scores were computed, and its history.

- ``generation``: the benchmark (source, revision, generation presets), the adapter and its
  ``config()``, and the seed. Only this decides whether a directory can be continued: a command with
  another generation identity is refused (or, with ``--overwrite``, starts the directory afresh).
- ``scorings``: every scoring configuration the run has values for (key → metric, full settings, first
  and last use); ``current``: the configuration each metric's reported numbers use, the latest scored.
- ``history``: one entry per command that changed the run — its command line, start and end, outcome
  and what it added. A command enters it when it writes its first image or score, and completes its
  entry when it ends, however it ends; a command that fails before producing anything leaves
  ``run.json`` (and every other file) untouched.

Every change is a read-modify-write under the run directory's lock, so shards of one run running at
the same time each add their own entry.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mige_eval.errors import RunError
from mige_eval.records import now
from mige_eval.store import RunStore

FORMAT = 2
#: What ``--overwrite`` deletes: everything a run writes.
RUN_FILES = (
    "images",
    "records",
    "crops",
    "inputs",
    "samples.jsonl",
    "summary.json",
    "run.json",
    "judgements.jsonl",
    ".merged.json",
)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def check_generation(store: RunStore, generation: dict[str, Any], overwrite: bool) -> bool:
    """Whether the directory can hold this generation identity. Returns True when ``--overwrite`` must
    first clear it (done later, by :func:`clear`, once every other check has passed)."""
    previous = store.read_json("run.json")
    if previous is None:
        return False
    if previous.get("format") != FORMAT:
        if overwrite:
            return True
        raise RunError(
            f"{store.root} was written by an older mige-eval whose records name no scoring configuration. "
            "Use another --out, or --overwrite to delete its images and records and start again."
        )
    if previous.get("generation") == generation:
        return False
    if overwrite:
        return True
    diffs = _differences(previous.get("generation") or {}, generation)
    raise RunError(
        f"{store.root} holds images made with other settings ({'; '.join(diffs)}). Scoring options never "
        "refuse a run; these change the images. Use another --out, or --overwrite to delete its images and "
        "records and start again."
    )


def clear(store: RunStore) -> None:
    """Delete everything a run wrote (``--overwrite``)."""
    for name in RUN_FILES:
        path = store.root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@dataclass
class Session:
    """This command's part of ``run.json``: it enters the history on its first output (:meth:`claim`)."""

    store: RunStore
    header: dict[str, Any]  # bench, model, generation, data, adapter info, environment
    entry: dict[str, Any]  # command, shard, limit, ... of this command's history entry
    scorings: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"metric", "settings"}
    claimed: bool = False

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        with self.store.lock():
            data = self.store.read_json("run.json") or {}
            change(data)
            self.store.write_json("run.json", data)

    def claim(self) -> None:
        """Enter the history (once): the header, this command's scoring configurations as current, and
        an entry whose outcome says it is running until :meth:`finish`."""
        if self.claimed:
            return
        started = now()

        def change(data: dict[str, Any]) -> None:
            data.update({"format": FORMAT, **self.header})
            known = data.setdefault("scorings", {})
            for key, info in self.scorings.items():
                known.setdefault(key, {**info, "first_used": started})["last_used"] = started
            data.setdefault("current", {}).update({info["metric"]: key for key, info in self.scorings.items()})
            history = data.setdefault("history", [])
            self.entry.update(
                {
                    "id": len(history) + 1,
                    "started": started,
                    "ended": None,
                    "outcome": "running (or killed before it could say how it ended)",
                }
            )
            history.append(dict(self.entry))

        self._update(change)
        self.claimed = True

    def finish(self, outcome: str, added: dict[str, Any], extra: Mapping[str, Any] | None = None) -> None:
        """Complete this command's history entry (when it claimed one)."""
        if not self.claimed:
            return
        ended = now()

        def change(data: dict[str, Any]) -> None:
            data.update(extra or {})
            for entry in data.get("history", []):
                if entry.get("id") == self.entry["id"] and entry.get("started") == self.entry["started"]:
                    entry.update({"ended": ended, "outcome": outcome, "added": added})

        self._update(change)
