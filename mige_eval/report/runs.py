"""Find run directories and read what reports need from them, never recomputing a score.

A report takes run directories (or folders holding them) and must still say something useful when
some of them are unfinished or damaged: every run that cannot be reported, or whose files disagree,
becomes a note naming the directory and what to do, and the other runs are reported as usual.
Runs are labelled by their directory relative to the common folder of all runs in the report, so
two runs of the same model stay apart and the labels do not depend on where the results live.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mige_eval.presets import AREAS, BACKBONE_IDS


@dataclass
class RunInfo:
    path: Path
    summary: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def bench(self) -> str:
        return self.summary.get("bench") or self.run.get("bench", "?")

    @property
    def model(self) -> str:
        return self.summary.get("model") or self.run.get("model", "?")

    def value(self, metric: str, subset: str | None = None) -> float | None:
        """The mean from summary.json, of the whole run or of one subset."""
        part = self.summary if subset is None else self.summary.get("subsets", {}).get(subset, {})
        return (part.get("metrics") or {}).get(metric)

    def count(self, subset: str | None = None) -> tuple[int, int]:
        """(samples, failed samples) of the whole run or of one subset."""
        part = self.summary if subset is None else self.summary.get("subsets", {}).get(subset, {})
        return int(part.get("n") or 0), int(part.get("n_failed") or 0)

    @property
    def scale(self) -> str:
        return (self.run.get("presets") or {}).get("scale", AREAS["scale"][0])

    def settings(self) -> list[str]:
        """What differs from a plain default run: presets, benchmark options, backbone overrides."""
        presets = self.run.get("presets") or {}
        out = [presets[a] for a, options in AREAS.items() if presets.get(a, options[0]) != options[0]]
        for key, value in ((self.run.get("identity") or {}).get("bench_options") or {}).items():
            if value not in (None, "none"):
                out.append(f"{key.replace('_', '-')} {value}")
        chosen = {"clip": presets.get("clip_backbone", "clip-b32"), "dino": presets.get("dino_backbone", "dino-s16")}
        for role, preset in chosen.items():
            used = (self.run.get("backbones") or {}).get(role)
            if used and used != BACKBONE_IDS.get(preset):
                out.append(f"{role} model {used}")
        return out

    def facts(self) -> list[tuple[str, str]]:
        """What a reader needs to trust the numbers: counts, settings, adapter, environment (run.json)."""
        n, failed = self.count()
        run = self.run
        limit = f"; limit {run['limit']}" if run.get("limit") else ""
        facts = [("samples", f"{n}, failed {failed}; seed {run.get('seed', '?')}{limit}"),
                 ("settings", ", ".join(self.settings()) or "defaults")]
        if not run:
            return facts + [("run.json", "missing: settings and environment unknown")]
        env = run.get("environment") or {}
        device = env.get("device") or {}
        packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
        facts += [
            ("backbones", ", ".join(f"{k} {v}" for k, v in (run.get("backbones") or {}).items()) or "?"),
            ("adapter config", json.dumps(run.get("adapter_config", {}), sort_keys=True)),
            ("environment", f"Python {env.get('python', '?')} on {env.get('platform', '?')}; "
                            f"{packages or 'no package versions'}"),
            ("device", f"{device.get('used', '?')} (requested {device.get('requested', '?')})"
                       + (f", {device['gpu']}" if device.get("gpu") else "")
                       + f"; git {env.get('git_sha') or 'unknown'}"),
            ("time", f"started {run.get('started', '?')}, finished {run.get('finished', '?')}"),
        ]
        if env.get("command"):
            facts.append(("command", " ".join(map(str, env["command"]))))
        return facts

    def data_root(self) -> Path | None:
        root = (self.run.get("data") or {}).get("data")
        return Path(root) if root else None


def _is_run(path: Path) -> bool:
    return (path / "run.json").is_file() or (path / "summary.json").is_file() or (path / "records").is_dir()


def _labels(dirs: list[Path]) -> dict[Path, str]:
    if len(dirs) == 1:
        return {dirs[0]: dirs[0].resolve().name}
    common = Path(os.path.commonpath([str(d.resolve()) for d in dirs]))
    return {d: d.resolve().relative_to(common).as_posix() or d.resolve().name for d in dirs}


def read_records(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of ``samples.jsonl`` that parse, and a problem per line that does not."""
    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return [], ["no samples.jsonl"]
    records, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"samples.jsonl line {number} is not valid JSON (cut off by a killed process?)")
            continue
        if not isinstance(record, dict) or "id" not in record:
            problems.append(f"samples.jsonl line {number} is not a sample record")
            continue
        records.append(record)
    return records, problems


def _consistency_note(label: str, run_dir: Path, summary: dict[str, Any]) -> str | None:
    records, problems = read_records(run_dir)
    expected = summary.get("n")
    if not problems and (expected is None or len(records) == expected):
        return None
    found = f"{len(records)} readable records"
    if expected is not None:
        found += f" where summary.json counts {expected}"
    return (f"{label}: samples.jsonl is partial ({found}{'; ' if problems else ''}{'; '.join(problems[:3])}); "
            "its numbers come from summary.json, the gallery shows the readable records. Run the same "
            "`mige-eval run` command again to merge the records and rewrite both files.")


def find_runs(paths: Iterable[Path]) -> tuple[list[RunInfo], list[str]]:
    """Runs under the given paths (a run directory, or any folder above run directories) and notes on
    the ones that cannot be reported (no summary.json, unreadable files) or whose files disagree.
    Paths under which no run directory is found at all are refused: a report of nothing is a mistake."""
    paths = [Path(p) for p in paths]
    dirs: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (give run directories or a folder holding them)")
        if _is_run(path):
            dirs.append(path)
        else:
            found = {p.parent for p in path.rglob("run.json")} | {p.parent for p in path.rglob("summary.json")}
            dirs.extend(sorted(found))
    dirs = list(dict.fromkeys(dirs))
    labels = _labels(dirs) if dirs else {}
    runs: list[RunInfo] = []
    notes: list[str] = []
    for run_dir in dirs:
        label = labels[run_dir]
        summary_path = run_dir / "summary.json"
        if not summary_path.is_file():
            notes.append(f"{label}: no summary.json (the run has not finished a stage yet); skipped. "
                         "Run its `mige-eval run` command again to finish it.")
            continue
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            run_path = run_dir / "run.json"
            run = json.loads(run_path.read_text(encoding="utf-8")) if run_path.is_file() else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            notes.append(f"{label}: unreadable summary.json or run.json ({exc}); skipped")
            continue
        if not isinstance(summary, dict) or not isinstance(run, dict):
            notes.append(f"{label}: summary.json or run.json is not a JSON object; skipped")
            continue
        runs.append(RunInfo(run_dir, summary, run, label))
        note = _consistency_note(label, run_dir, summary)
        if note:
            notes.append(note)
    if paths and not dirs:
        raise FileNotFoundError(
            f"no run directory in {', '.join(map(str, paths))}: looked for folders holding run.json, summary.json or "
            "records/ there and in every folder below. Give run directories, or the folder holding them "
            "(`mige-eval run` writes one to results/runs/<bench>/<model>, or to --out DIR)")
    return runs, notes
