"""Run directories written directly (fast), with exactly the files and fields the runner writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mige_eval.metrics import metric_info
from mige_eval.presets import AREAS, BACKBONE_IDS, GENERATION_AREAS, Presets
from mige_eval.records import view
from mige_eval.scoring import OUTPUT_AREAS, scoring_key
from mige_eval.summary import summarize

ENVIRONMENT = {
    "python": "3.11.0",
    "platform": "Linux-test",
    "packages": {"mige-eval": "0.1.0", "torch": "2.13.0", "transformers": None},
    "git_sha": "abc1234",
    "device": {"requested": "auto", "used": "cuda", "gpu": "Test GPU"},
}
#: Benchmark-specific scoring areas, as the loaders declare them.
BENCH_SCORING_AREAS = {"dreambench": ("dreambench_reference",), "migebench": ("migebench_subject",)}


def scoring_settings(metric: str, bench: str, active: Presets, bench_options: dict, backbones: dict) -> dict:
    """What the runner records for a metric's scoring configuration (mige_eval.scoring.Scorer)."""
    info = metric_info(metric)
    settings = {
        "metric": metric,
        "outputs": active.of(OUTPUT_AREAS),
        "benchmark": {"name": bench, **active.of(BENCH_SCORING_AREAS.get(bench, ())), **bench_options},
        **active.of(getattr(info, "preset_areas", ())),
    }
    roles = getattr(info, "roles", ())
    if roles:
        settings["models"] = {
            role: (f"local@sha256:{'5' * 64}" if backbones[role].startswith("/") else f"{backbones[role]}@0123abc")
            + f"|{active['precision']}"
            for role in roles
        }
    return settings


def write_run(
    path: Path,
    bench: str,
    model: str,
    values: dict[str, dict[str, Any]],
    *,
    n: int = 2,
    presets: tuple[str, ...] = (),
    failed: int = 0,
    data: Path | None = None,
    ids: dict[str, list[str]] | None = None,
    image: Callable[[str], Image.Image] | None = None,
    bench_options: dict | None = None,
    backbones: dict | None = None,
    cluster: Callable[[str], str] | None = None,
    expected: int | None = None,
) -> Path:
    """A finished run: ``n`` records per subset (or the ``ids`` given) whose metric values are
    ``values[subset][metric]`` (a number: every record's value, so the subset's mean; a list: one per
    record), the last ``failed`` records failed, summary.json computed from the records. ``cluster``
    gives a sample's resampling unit (DreamBench: its subject); ``expected`` the benchmark's sample
    count (default: the records written, a complete run). A backbone given as a path is recorded as
    the runner records a local checkpoint (``local@sha256:...``)."""
    active = Presets.from_names(presets)
    records = []
    for subset, metrics in values.items():
        for i, sample_id in enumerate((ids or {}).get(subset) or [f"{subset}-{i}" for i in range(n)]):
            records.append(
                {
                    "id": sample_id,
                    "subset": subset,
                    "task": "edit",
                    "image": f"images/{sample_id}.png",
                    **({"cluster": cluster(sample_id)} if cluster else {}),
                    "seed": i,
                    "references": [f"{subset}/{i}.png"],
                    "caption": f"caption {sample_id}",
                    "metrics": {m: v[i] if isinstance(v, list) else v for m, v in metrics.items()},
                    "flags": [],
                    "error": None,
                }
            )
    for record in records[len(records) - failed :]:
        record.update(metrics={}, error="adapter test failed on this sample", image=None)
    names = list(next(iter(values.values())))
    backbones = {
        "clip": BACKBONE_IDS[active["clip_backbone"]],
        "dino": BACKBONE_IDS[active["dino_backbone"]],
        **(backbones or {}),
    }
    scorings = {}
    for name in names:
        settings = scoring_settings(name, bench, active, bench_options or {}, backbones)
        scorings[scoring_key(name, settings)] = {
            "metric": name,
            "settings": settings,
            "first_used": "2025-01-01T00:00:00+00:00",
            "last_used": "2025-01-01T00:00:00+00:00",
        }
    current = {info["metric"]: key for key, info in scorings.items()}
    for record in records:
        record["scores"] = {current[m]: {"value": v, "flags": []} for m, v in record.pop("metrics").items()}
        if record["error"]:
            record["scores"] = {}
    records = [view(r, current) for r in records]
    unit = {"dreambench": "subject", "magicbrush": "session"}.get(bench, "sample") if cluster else "sample"
    summary = summarize(
        records,
        bench=bench,
        model=model,
        scale=active["scale"],
        expected=len(records) if expected is None else expected,
        current=current,
        unit=unit,
    )
    run = {
        "format": 2,
        "bench": bench,
        "model": model,
        "generation": {
            "bench": {
                "name": bench,
                "source": {"kind": "test"},
                **{a: active[a] for a in GENERATION_AREAS if active[a] != AREAS[a][0]},
            },
            "model": model,
            "adapter": "Test",
            "adapter_config": {"steps": 50},
            "seed": 0,
        },
        "data": {"source": {"kind": "test"}, "data": str(data or path / "no-dataset")},
        "environment": ENVIRONMENT,
        "scorings": scorings,
        "current": current,
        "history": [
            {
                "id": 1,
                "command": ["mige-eval", "run"],
                "started": "2025-01-01T00:00:00+00:00",
                "ended": "2025-01-01T01:00:00+00:00",
                "outcome": "completed",
                "added": {"images": len(records), "scores": {m: len(records) for m in names}, "failures": failed},
            }
        ],
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "run.json").write_text(json.dumps(run, indent=2))
    (path / "summary.json").write_text(json.dumps(summary, indent=2))
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if image is not None:
        (path / "images").mkdir(exist_ok=True)
        for record in records:
            if record["image"]:
                image(record["id"]).save(path / record["image"])
    return path


@pytest.fixture(scope="session")
def make_run() -> Callable[..., Path]:
    return write_run
