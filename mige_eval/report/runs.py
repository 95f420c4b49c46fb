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

from mige_eval.presets import AREAS, BENCH_OPTION_DEFAULTS
from mige_eval.report import comparability


@dataclass
class RunInfo:
    path: Path
    summary: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    #: Metric -> scoring key the report shows instead of the current one (``--scoring``).
    shown: dict[str, str] = field(default_factory=dict)
    #: ``summary.json``-shaped numbers under ``shown`` (:func:`mige_eval.report.scorings.choose`); None: the summary's.
    numbers: dict[str, Any] | None = None

    @property
    def bench(self) -> str:
        return self.summary.get("bench") or self.run.get("bench", "?")

    @property
    def model(self) -> str:
        return self.summary.get("model") or self.run.get("model", "?")

    @property
    def figures(self) -> dict[str, Any]:
        """The numbers the report shows: ``summary.json``'s, or those of the configurations ``--scoring`` chose."""
        return self.numbers if self.numbers is not None else self.summary

    def _part(self, subset: str | None) -> dict[str, Any]:
        return self.figures if subset is None else (self.figures.get("subsets") or {}).get(subset, {})

    def value(self, metric: str, subset: str | None = None) -> float | None:
        """The mean of the whole run or of one subset."""
        return (self._part(subset).get("metrics") or {}).get(metric)

    def interval(self, metric: str, subset: str | None = None) -> list[float] | None:
        """The 95 % bootstrap interval of that mean (``None`` with fewer than two resampling units)."""
        return (self._part(subset).get("ci") or {}).get(metric)

    def count(self, subset: str | None = None) -> tuple[int, int]:
        """(samples, failed samples) of the whole run or of one subset."""
        part = self._part(subset)
        return int(part.get("n") or 0), int(part.get("n_failed") or 0)

    def keys(self) -> dict[str, str]:
        """Metric -> the scoring key of the numbers shown: the current one unless ``--scoring`` chose another."""
        return {**(self.summary.get("scoring") or {}), **self.shown}

    def current_settings(self) -> list[dict[str, Any]]:
        """The settings of the scoring configurations the numbers shown use (``run.json`` ``scorings``)."""
        known = self.run.get("scorings") or {}
        return [known[key]["settings"] for key in self.keys().values() if key in known]

    @property
    def scale(self) -> str:
        return next((s["scale"] for s in self.current_settings() if "scale" in s), AREAS["scale"][0])

    def presets(self) -> dict[str, str]:
        """Every preset area the run's images or current scores depend on, with its option."""
        out = {k: v for k, v in ((self.run.get("generation") or {}).get("bench") or {}).items() if k in AREAS}
        for settings in self.current_settings():
            for part in (settings, settings.get("outputs") or {}, settings.get("benchmark") or {}):
                out.update({k: v for k, v in part.items() if k in AREAS})
        return out

    def bench_options(self) -> dict[str, Any]:
        """Benchmark options with a dedicated flag (e.g. Emu Edit's caption filter) of the current scores."""
        out: dict[str, Any] = {}
        for settings in self.current_settings():
            out.update({k: v for k, v in (settings.get("benchmark") or {}).items() if k in BENCH_OPTION_DEFAULTS})
        return out

    def backbones(self) -> dict[str, str]:
        """Role → fingerprint (id@revision|precision) of every model behind the current scores."""
        out: dict[str, str] = {}
        for settings in self.current_settings():
            out.update(settings.get("models") or {})
            crops = settings.get("crops") or {}
            out.update({role: crops[role] for role in ("detector", "sam") if role in crops})
        return out

    def settings(self) -> list[str]:
        """What differs from the benchmark's defaults, in words (presets, options, backbones; never a path)."""
        return [str(d) for d in comparability.assess(self).deviations]

    def facts(self) -> list[tuple[str, str]]:
        """What a reader needs to trust the numbers: counts, settings, comparability, and the provenance
        (directories, backbone files, scoring configurations, adapter, environment, command history)."""
        n, failed = self.count()
        run = self.run
        generation = run.get("generation") or {}
        history = run.get("history") or []
        verdict = comparability.assess(self)
        if not verdict.published:
            standing = f"no published rows for {self.bench}"
        else:
            standing = "yes" if verdict.comparable else "no: " + "; ".join(verdict.reasons)
        expected = self.figures.get("expected")
        facts = [
            (
                "samples",
                f"{n:,} of {f'{expected:,}' if expected is not None else '?'}, failed {failed}; "
                f"seed {generation.get('seed', '?')}",
            ),
            ("settings", ", ".join(self.settings()) or "benchmark defaults"),
            ("comparable with the published rows", standing),
            ("directory", str(self.path.resolve())),
        ]
        if not run:
            return facts + [("run.json", "missing: settings and environment unknown")]
        env = run.get("environment") or {}
        device = env.get("device") or {}
        packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
        data = run.get("data") or {}
        source = data.get("source") or {}
        facts += [
            (
                "data",
                f"{data.get('data', '?')} ({source.get('repo', source.get('kind', '?'))}"
                f"{' @ ' + str(source['revision']) if source.get('revision') else ''})",
            ),
            ("backbones", ", ".join(f"{k} {v}" for k, v in self.backbones().items()) or "none"),
        ]
        used = run.get("backbones_used") or {}
        if used:
            facts.append(
                (
                    "backbone files",
                    ", ".join(
                        f"{name.split(':')[-1]} {info.get('id')} "
                        f"({info.get('revision')}, {info.get('precision')}, "
                        f"{info.get('device')})"
                        for name, info in used.items()
                    ),
                )
            )
        facts += self._scoring_facts()
        facts += [
            ("adapter config", json.dumps(generation.get("adapter_config", {}), sort_keys=True)),
            (
                "environment",
                f"Python {env.get('python', '?')} on {env.get('platform', '?')}; {packages or 'no package versions'}",
            ),
            (
                "device",
                f"{device.get('used', '?')} (requested {device.get('requested', '?')})"
                + (f", {device['gpu']}" if device.get("gpu") else "")
                + f"; git {env.get('git_sha') or 'unknown'}",
            ),
        ]
        for entry in history:
            facts.append(
                (
                    f"command {entry.get('id')}",
                    f"{' '.join(map(str, entry.get('command') or []))} — "
                    f"{entry.get('started')} to {entry.get('ended') or '?'}, "
                    f"{entry.get('outcome')}, added {entry.get('added', {})}",
                )
            )
        return facts

    def _scoring_facts(self) -> list[tuple[str, str]]:
        """Per metric, the scoring configuration shown (key, words, full settings), then the run's others."""
        known = self.run.get("scorings") or {}
        current = self.summary.get("scoring") or {}
        shown = self.keys()
        out = []
        for metric, key in shown.items():
            info = known.get(key) or {}
            tag = "current" if current.get(metric) == key else f"chosen with --scoring; current {current.get(metric)}"
            out.append((f"scoring {metric}", f"{key} ({tag}): {comparability.describe(info.get('settings') or {})}"))
            out.append((f"scoring {metric} settings", json.dumps(info.get("settings"), sort_keys=True)))
        others = [
            f"{key}: {comparability.describe(info.get('settings') or {})}"
            for key, info in known.items()
            if key not in shown.values()
        ]
        if others:
            out.append(("other scoring configurations (mige-eval report --scoring KEY)", "; ".join(others)))
        return out

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
    return (
        f"{label}: samples.jsonl is partial ({found}{'; ' if problems else ''}{'; '.join(problems[:3])}); "
        "its numbers come from summary.json, the gallery shows the readable records. Run the same "
        "`mige-eval run` command again to merge the records and rewrite both files."
    )


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
            notes.append(
                f"{label}: no summary.json (the run has not finished a stage yet); skipped. "
                "Run its `mige-eval run` command again to finish it."
            )
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
            "(`mige-eval run` writes one to results/runs/<bench>/<model>, or to --out DIR)"
        )
    return runs, notes
