"""Command-line behaviour: listing, errors a user sees, options, report."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from mige_eval.cli import app, parse_model_args

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_version_and_list():
    assert invoke("--version").output.startswith("mige-eval ")
    result = invoke("list", "models")
    assert result.exit_code == 0 and "copy-source" in result.output and "dreambench" not in result.output
    assert invoke("list", "things").exit_code == 2


def test_unknown_bench_and_model_show_known_names(tmp_path):
    result = invoke("run", "--bench", "dreambenc", "--model", "copy-source", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "Did you mean 'dreambench'" in result.output
    assert "emuedit" in result.output
    result = invoke("run", "--bench", "dreambench", "--model", "mgie", "--data", str(tmp_path))
    assert result.exit_code == 2 and "unknown model 'mgie'" in result.output and "Did you mean 'mige'" in result.output


def test_missing_data_folder(tmp_path):
    result = invoke("run", "--bench", "dreambench", "--model", "copy-source", "--data", str(tmp_path / "absent"),
                    "--metrics", "none")
    assert result.exit_code == 2 and "absent does not exist" in result.output and "--data" in result.output


def test_unknown_metric_and_model_option(tmp_path, dreambench_root):
    result = invoke("run", "--bench", "dreambench", "--model", "copy-source", "--data", str(dreambench_root),
                    "--metrics", "dino,clipi")
    assert result.exit_code == 2 and "Did you mean 'clip_i'" in result.output
    result = invoke("run", "--bench", "dreambench", "--model", "copy-source", "--data", str(dreambench_root),
                    "--metrics", "none", "--model-arg", "steps=3", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "adapter copy-source has no option(s) steps" in result.output


def test_model_args_are_json_when_possible():
    assert parse_model_args(["steps=50", "scale=7.5", "fp16=true", "model_id=a/b", "name=", "x={\"a\": 1}"]) == {
        "steps": 50, "scale": 7.5, "fp16": True, "model_id": "a/b", "name": "", "x": {"a": 1}}


def test_score_a_folder_of_images_with_missing_ids(tmp_path, dreambench_root):
    images = tmp_path / "outputs"
    images.mkdir()
    for sample_id, subject in (("backpack-00", "backpack"), ("backpack-01", "dog")):
        (images / f"{sample_id}.jpg").write_bytes((dreambench_root / subject / "00.jpg").read_bytes())
    out = tmp_path / "scored"
    result = invoke("score", "--bench", "dreambench", "--data", str(dreambench_root), "--images", str(images),
                    "--metrics", "none", "--limit", "3", "--out", str(out), "--quiet")
    assert result.exit_code == 1
    assert "1 of 3 samples to score have no output (they fail): backpack-02" in result.output
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["error"] is None for r in records] == [True, True, False]
    assert "no output for sample backpack-02: looked for <sample id>.png" in records[2]["error"]
    assert [r["image"] for r in records] == ["images/backpack-00.jpg", "images/backpack-01.jpg", None]


def test_report_prints_runs_and_notes_broken_ones(tmp_path, dreambench_root):
    out = tmp_path / "runs" / "dreambench" / "copy-source"
    assert invoke("run", "--bench", "dreambench", "--model", "copy-source", "--data", str(dreambench_root),
                  "--metrics", "none", "--limit", "2", "--out", str(out), "--quiet").exit_code == 0
    broken = tmp_path / "runs" / "dreambench" / "half"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{}")
    result = invoke("report", str(tmp_path / "runs"))
    assert result.exit_code == 0
    assert "| dreambench | copy-source | 2 | 0 |" in result.output
    assert "half: no summary.json" in result.output
