"""Run directories written directly (fast), with exactly the files and fields the runner writes."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mige_eval.presets import BACKBONE_IDS, Presets
from mige_eval.summary import summarize

ENVIRONMENT = {
    "python": "3.11.0", "platform": "Linux-test",
    "packages": {"mige-eval": "0.1.0", "torch": "2.13.0", "transformers": None},
    "git_sha": "abc1234", "device": {"requested": "auto", "used": "cuda", "gpu": "Test GPU"},
    "command": ["mige-eval", "run"],
}


def write_run(path: Path, bench: str, model: str, values: dict[str, dict[str, Any]], *, n: int = 2,
              presets: tuple[str, ...] = (), failed: int = 0, data: Path | None = None,
              ids: dict[str, list[str]] | None = None, image: Callable[[str], Image.Image] | None = None,
              bench_options: dict | None = None, backbones: dict | None = None) -> Path:
    """A finished run: ``n`` records per subset (or the ``ids`` given) whose metric values are
    ``values[subset][metric]`` (a number: every record's value, so the subset's mean; a list: one per
    record), the last ``failed`` records failed, summary.json computed from the records."""
    active = Presets.from_names(presets)
    records = []
    for subset, metrics in values.items():
        for i, sample_id in enumerate((ids or {}).get(subset) or [f"{subset}-{i}" for i in range(n)]):
            records.append({"id": sample_id, "subset": subset, "task": "edit", "image": f"images/{sample_id}.png",
                            "seed": i, "references": [f"{subset}/{i}.png"], "caption": f"caption {sample_id}",
                            "metrics": {m: v[i] if isinstance(v, list) else v for m, v in metrics.items()},
                            "flags": [], "error": None})
    for record in records[len(records) - failed:]:
        record.update(metrics={}, error="adapter test failed on this sample", image=None)
    names = list(next(iter(values.values())))
    extra = active.non_default()
    summary = summarize(records, bench=bench, model=model, metrics=names, scale=active["scale"],
                        notes=[f"non-default presets: {', '.join(extra)}"] if extra else [])
    run = {
        "identity": {"bench": bench, "model": model, "bench_options": bench_options or {}},
        "bench": bench, "data": {"source": {"kind": "test"}, "data": str(data or path / "no-dataset")},
        "model": model, "adapter_config": {"steps": 50}, "metrics": names, "presets": active.to_json(),
        "backbones": backbones or {"clip": BACKBONE_IDS[active["clip_backbone"]],
                                   "dino": BACKBONE_IDS[active["dino_backbone"]]},
        "seed": 0, "limit": None, "environment": ENVIRONMENT,
        "started": "2025-01-01T00:00:00+00:00", "finished": "2025-01-01T01:00:00+00:00",
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
