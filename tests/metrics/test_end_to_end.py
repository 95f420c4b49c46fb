"""``mige-eval run`` / ``score`` on the real DreamBench with tiny backbones, and what the feature cache saves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mige_eval.cli import app
from mige_eval.metrics.features import ENCODED

LIMIT = 3  # backpack-00..02: six reference photos, one copied output, three prompts


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def encodes(action) -> dict[str, int]:
    before = dict(ENCODED)
    action()
    return {k: ENCODED[k] - before.get(k, 0) for k in ENCODED if ENCODED[k] != before.get(k, 0)}


@pytest.fixture()
def common(tmp_path, dreambench_root, tiny_clip, tiny_dino):
    return [
        "--bench",
        "dreambench",
        "--data",
        str(dreambench_root),
        "--metrics",
        "dino,clip_i,clip_t",
        "--clip-model",
        str(tiny_clip),
        "--dino-model",
        str(tiny_dino),
        "--limit",
        str(LIMIT),
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
    ]


def test_run_copy_source_end_to_end_and_a_second_model_encodes_only_its_outputs(
    tmp_path, common, dreambench_root, independent, kit
):
    first_dir = tmp_path / "copy-source"
    first = encodes(lambda: invoke("run", "--model", "copy-source", "--out", str(first_dir), *common))
    assert first == {"dino": 6 + 1, "clip": 6 + 1, "text": LIMIT}

    records = [json.loads(line) for line in (first_dir / "samples.jsonl").read_text().splitlines()]
    summary = json.loads((first_dir / "summary.json").read_text())
    assert [r["id"] for r in records] == ["backpack-00", "backpack-01", "backpack-02"]
    assert summary["n"] == LIMIT and summary["n_failed"] == 0 and summary["counts"]["dino"] == LIMIT
    photos = sorted((dreambench_root / "backpack").glob("*.jpg"))
    assert records[0]["references"] == [f"backpack/{p.name}" for p in photos]
    output = kit.rgb(photos[0])  # copy-source returns the input photo
    dino = np.mean([kit.cos(independent.dino_features(output), independent.dino_features(kit.rgb(p))) for p in photos])
    clip_t = kit.cos(independent.clip_image(output), independent.clip_text(records[1]["caption"]))
    assert records[0]["metrics"]["dino"] == pytest.approx(dino, abs=1e-5)
    assert records[1]["metrics"]["clip_t"] == pytest.approx(clip_t, abs=1e-5)
    assert summary["metrics"]["clip_i"] == pytest.approx(np.mean([r["metrics"]["clip_i"] for r in records]))

    # Another run directory, same outputs: everything comes from the cache.
    assert encodes(lambda: invoke("run", "--model", "copy-source", "--out", str(tmp_path / "again"), *common)) == {}

    # A second model (a folder of other images) on the same benchmark: only its three outputs are encoded.
    folder = tmp_path / "other-model"
    folder.mkdir()
    for i, record in enumerate(records):
        Image.fromarray(np.full((64, 48, 3), 40 * i + 20, np.uint8)).save(folder / f"{record['id']}.png")
    second = encodes(lambda: invoke("score", "--images", str(folder), "--out", str(tmp_path / "other"), *common))
    assert second == {"dino": LIMIT, "clip": LIMIT}
    other = json.loads((tmp_path / "other" / "summary.json").read_text())
    assert other["n_failed"] == 0 and other["metrics"]["dino"] != summary["metrics"]["dino"]


def test_missing_backbone_stops_the_run_with_the_fetch_command(tmp_path, common, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = [a if a != common[common.index("--dino-model") + 1] else "tiny-org/not-downloaded" for a in common]
    result = CliRunner().invoke(app, ["run", "--model", "copy-source", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "tiny-org/not-downloaded" in text and "mige-eval download --backbones" in text
    assert not (tmp_path / "run" / "samples.jsonl").exists() or not (tmp_path / "run" / "samples.jsonl").read_text()
