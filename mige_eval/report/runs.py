"""Find run directories and read what reports need from them, never recomputing a score."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


@dataclass
class RunInfo:
    path: Path
    summary: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def bench(self) -> str:
        return self.summary.get("bench") or self.run.get("bench", "?")

    @property
    def model(self) -> str:
        return self.summary.get("model") or self.run.get("model", "?")


def _is_run(path: Path) -> bool:
    return (path / "run.json").is_file() or (path / "summary.json").is_file() or (path / "records").is_dir()


def find_runs(paths: Iterable[Path]) -> tuple[list[RunInfo], list[str]]:
    """Runs under the given paths (a run directory, or any folder above run directories) and notes on
    the ones that cannot be reported (no summary.json, unreadable files)."""
    runs: list[RunInfo] = []
    notes: list[str] = []
    dirs: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (give run directories or a folder holding them)")
        if _is_run(path):
            dirs.append(path)
        else:
            dirs.extend(sorted(p.parent for p in path.rglob("run.json")))
    for run_dir in dict.fromkeys(dirs):
        summary_path = run_dir / "summary.json"
        if not summary_path.is_file():
            notes.append(f"{run_dir}: no summary.json (the run has not finished a stage yet); skipped")
            continue
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            run = json.loads((run_dir / "run.json").read_text(encoding="utf-8")) if (run_dir / "run.json").is_file() else {}
        except (OSError, json.JSONDecodeError) as exc:
            notes.append(f"{run_dir}: unreadable summary.json or run.json ({exc}); skipped")
            continue
        runs.append(RunInfo(run_dir, summary, run))
    if not runs and not notes:
        notes.append("no run directories found")
    return runs, notes
