"""The baselines inside ``mige-eval run``: real DreamBench samples through the runner, and refusals before any work."""
from __future__ import annotations

import json

import pytest

from mige_eval.metrics.base import ScoringOptions
from mige_eval.runner import RunError, RunOptions, run


def _options(tmp_path, dreambench_root, model, **model_args):
    return RunOptions(bench="dreambench", model=model, data=dreambench_root, out=tmp_path / "run", limit=2,
                      metrics="none", model_args=model_args, scoring=ScoringOptions(device="cpu"),
                      results_root=tmp_path / "runs")


@pytest.mark.parametrize(("model", "fixture", "extra"), [
    ("blip-diffusion", "blip_diffusion_dir", {"negative_prompt": "ugly"}),
    ("omnigen", "omnigen_dir", {"max_input_image_size": 64}),  # the tiny model has 32 x 32 patch positions
])
def test_dreambench_runs_end_to_end_with_a_local_model_directory(request, tmp_path, dreambench_root, model, fixture,
                                                                 extra):
    model_dir = request.getfixturevalue(fixture)
    result = run(_options(tmp_path, dreambench_root, model, model_id=str(model_dir), steps=1, resolution=32, **extra),
                 log=lambda message: None)
    assert result.summary["n"] == 2 and result.summary["n_failed"] == 0
    images = sorted((result.run_dir / "images").iterdir())
    assert len(images) == 2
    identity = json.loads((result.run_dir / "run.json").read_text())["generation"]
    assert identity["adapter_config"]["model_id"] == str(model_dir)
    assert identity["adapter_config"]["device"] == "cpu"


def test_a_benchmark_of_another_task_is_refused_before_any_work(tmp_path, dreambench_root):
    with pytest.raises(RunError, match="needs task.*subject.*supports edit"):
        run(_options(tmp_path, dreambench_root, "instructpix2pix", model_id=str(tmp_path / "no-weights")),
            log=lambda message: None)
    assert not (tmp_path / "run" / "images").exists()


def test_an_unknown_or_bad_model_arg_is_refused(tmp_path, dreambench_root):
    with pytest.raises(RunError, match="no option.*guidance.*its options are"):
        run(_options(tmp_path, dreambench_root, "blip-diffusion", guidance=3), log=lambda message: None)
    with pytest.raises(RunError, match="bad option: steps must be a positive integer"):
        run(_options(tmp_path, dreambench_root, "blip-diffusion", steps=0), log=lambda message: None)
