"""The baselines inside ``mige-eval run``: real DreamBench samples through the runner, and refusals before any work."""

from __future__ import annotations

import json

import pytest

from mige_eval.metrics.base import ScoringOptions
from mige_eval.runner import RunError, RunOptions, run


def _options(tmp_path, dreambench_root, model, **model_args):
    return RunOptions(
        bench="dreambench",
        model=model,
        data=dreambench_root,
        out=tmp_path / "run",
        limit=2,
        metrics="none",
        model_args=model_args,
        scoring=ScoringOptions(device="cpu"),
        results_root=tmp_path / "runs",
    )


@pytest.mark.parametrize(
    ("model", "fixture", "extra"),
    [
        ("blip-diffusion", "blip_diffusion_dir", {"negative_prompt": "ugly"}),
        ("omnigen", "omnigen_dir", {"max_input_image_size": 64}),  # the tiny model has 32 x 32 patch positions
    ],
)
def test_dreambench_runs_end_to_end_with_a_local_model_directory(
    request, tmp_path, dreambench_root, model, fixture, extra
):
    model_dir = request.getfixturevalue(fixture)
    result = run(
        _options(tmp_path, dreambench_root, model, model_id=str(model_dir), steps=1, resolution=32, **extra),
        log=lambda message: None,
    )
    assert result.summary["n"] == 2 and result.summary["n_failed"] == 0
    images = sorted((result.run_dir / "images").iterdir())
    assert len(images) == 2
    identity = json.loads((result.run_dir / "run.json").read_text())["generation"]
    assert identity["adapter_config"]["model_id"] == str(model_dir)
    assert identity["adapter_config"]["device"] == "cpu"


def test_a_benchmark_of_another_task_is_refused_before_any_work(tmp_path, dreambench_root):
    with pytest.raises(RunError, match="needs task.*subject.*supports edit"):
        run(
            _options(tmp_path, dreambench_root, "instructpix2pix", model_id=str(tmp_path / "no-weights")),
            log=lambda message: None,
        )
    assert not (tmp_path / "run" / "images").exists()


def test_an_unknown_or_bad_model_arg_is_refused(tmp_path, dreambench_root):
    with pytest.raises(RunError, match="no option.*guidance.*its options are"):
        run(_options(tmp_path, dreambench_root, "blip-diffusion", guidance=3), log=lambda message: None)
    with pytest.raises(RunError, match="bad option: steps must be a positive integer"):
        run(_options(tmp_path, dreambench_root, "blip-diffusion", steps=0), log=lambda message: None)


def test_migebench_runs_end_to_end_with_qwen_image_edit_plus_from_the_command_line(
    tmp_path, qwen_edit_plus_dir, dreambench_photos
):
    """``mige-eval run --bench migebench --model qwen-image-edit-plus --model-arg model_id=<dir>`` on a MIGEBench copy
    made of real DreamBench photos: both subsets, every image at the source's size, the run recorded."""
    from PIL import Image
    from typer.testing import CliRunner

    from layouts import write_migebench
    from mige_eval.cli import app

    photos = [Image.open(p).convert("RGB") for p in dreambench_photos]

    def picture(kind, n, size):
        if kind == "mask":
            return Image.new("L", size, 255)
        return photos[(n + len(kind)) % len(photos)].resize(size)

    records = [("add", 3, "a backpack", (160, 96)), ("replace", 5, "a teapot", (96, 160))]
    data = write_migebench(tmp_path / "MIGEBench", records, picture)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "migebench",
            "--data",
            str(data),
            "--model",
            "qwen-image-edit-plus",
            "--model-arg",
            f"model_id={qwen_edit_plus_dir}",
            "--model-arg",
            "steps=1",
            "--model-arg",
            "resolution=128",
            "--model-arg",
            "device=cpu",
            "--metrics",
            "none",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    written = {r["id"]: r for r in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}
    assert sorted(written) == ["add-3", "replace-5"] and not any(r["error"] for r in written.values())
    # no output size is asked for: each image comes back at the model's size for its source (128 squared pixels at
    # 160 x 96: sqrt(16384 * 5/3) = 165.3 -> 160, 99.1 -> 96), also for replace, whose last image is the entity
    assert [Image.open(out / "images" / f"{i}.png").size for i in sorted(written)] == [(160, 96), (96, 160)]
    assert [written[i]["native_size"] for i in sorted(written)] == [[160, 96], [96, 160]]
    config = json.loads((out / "run.json").read_text())["generation"]["adapter_config"]
    assert (config["model_id"], config["steps"], config["resolution"]) == (str(qwen_edit_plus_dir), 1, 128)
    assert (config["true_cfg_scale"], config["negative_prompt"], config["guidance_scale"]) == (4.0, " ", 1.0)
