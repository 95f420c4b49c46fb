"""``mige-eval run --bench migebench --model copy-source --metrics subject_dino,subject_clip_i`` end to end on the CPU.

A small MIGEBench in the published layout (``add_bench.json``, ``replace_bench.json`` with the authors'
placeholder paths, ``add/add_source/…`` folders), tiny random GroundingDINO, SAM, CLIP and DINO of the
real architectures passed as local folders through the CLI options. Crops and scores are checked
against ``tiny_grounding.reference_crop`` (MIGE's script in torch) and the independent features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from layouts import MIGEBENCH_KINDS, write_migebench
from mige_eval.cli import app
from mige_eval.metrics.features import ENCODED
from mige_eval.metrics.grounding import FORWARDS
from tiny_grounding import reference_crop

#: (subset, idx, object, source size): what each fixture record asks for.
RECORDS = [
    ("add", 21, "a signboard", (64, 48)),
    ("add", 7, "A Red Dog", (40, 56)),
    ("replace", 20, "pen", (56, 56)),
    ("replace", 3, "a vase.", (48, 40)),
]


def noise(kind: str, n: int, size: tuple[int, int]) -> Image.Image:
    seed = 10 * n + MIGEBENCH_KINDS.index(kind)
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (size[1], size[0], 3), np.uint8), "RGB")


def write_migebench_noise(root: Path) -> Path:
    return write_migebench(root, RECORDS, noise)


def run(*args: str) -> None:
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 0, result.output


def test_migebench_copy_source_subject_metrics_end_to_end(
    tmp_path, tiny_gdino, tiny_sam, tiny_clip, tiny_dino, independent, kit
):
    data = write_migebench_noise(tmp_path / "MIGEBench")
    common = [
        "--bench",
        "migebench",
        "--data",
        str(data),
        "--model",
        "copy-source",
        "--metrics",
        "subject_dino,subject_clip_i",
        "--detector-model",
        str(tiny_gdino),
        "--sam-model",
        str(tiny_sam),
        "--clip-model",
        str(tiny_clip),
        "--dino-model",
        str(tiny_dino),
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
    ]
    forwards = dict(FORWARDS)
    run(*common, "--out", str(tmp_path / "first"))
    assert FORWARDS["detector"] - forwards.get("detector", 0) == len(RECORDS)

    first = tmp_path / "first"
    records = {r["id"]: r for r in map(json.loads, (first / "samples.jsonl").read_text().splitlines())}
    assert sorted(records) == sorted(f"{subset}-{idx}" for subset, idx, _, _ in RECORDS)
    for subset, idx, obj, _ in RECORDS:
        record = records[f"{subset}-{idx}"]
        output = kit.rgb(data / f"{subset}/{subset}_source/{idx}_source.jpg")  # copy-source
        photo = kit.rgb(data / f"{subset}/{subset}_entity/{idx}_entity_black.jpg")
        crop, flags = reference_crop(tiny_gdino, tiny_sam, output, obj.lower().rstrip(".") + ".")
        assert record["error"] is None and record["flags"] == flags
        if crop is None:
            assert record["metrics"] == {"subject_dino": None, "subject_clip_i": None}
            continue
        saved = Image.open(first / "crops" / f"{subset}-{idx}.png")
        assert saved.size == crop.size and saved.tobytes() == crop.tobytes()
        assert record["metrics"]["subject_dino"] == pytest.approx(
            kit.cos(independent.dino_features(crop), independent.dino_features(photo)), abs=1e-5
        )
        assert record["metrics"]["subject_clip_i"] == pytest.approx(
            kit.cos(independent.clip_image(crop), independent.clip_image(photo)), abs=1e-5
        )

    used = json.loads((first / "run.json").read_text())["backbones_used"]
    assert used["backbone:detector"]["id"] == str(tiny_gdino) and used["backbone:sam"]["id"] == str(tiny_sam)
    summary = json.loads((first / "summary.json").read_text())
    assert summary["n"] == len(RECORDS) and summary["n_failed"] == 0
    assert set(summary["subsets"]) == {"add", "replace"}

    # A second run on the same cache neither detects, segments nor encodes anything.
    encoded, forwards = dict(ENCODED), dict(FORWARDS)
    run(*common, "--out", str(tmp_path / "second"))
    assert dict(FORWARDS) == forwards and dict(ENCODED) == encoded
    again = [json.loads(line) for line in (tmp_path / "second" / "samples.jsonl").read_text().splitlines()]
    assert {r["id"]: r["metrics"] for r in again} == {i: r["metrics"] for i, r in records.items()}
    assert sorted(p.name for p in (tmp_path / "second" / "crops").iterdir()) == sorted(
        p.name for p in (first / "crops").iterdir()
    )
