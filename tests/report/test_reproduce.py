"""``reproduce``: every model on the table's benchmarks (real DreamBench, tiny backbones), then every format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mige_eval.benchmarks.base import data_option
from mige_eval.metrics.base import ScoringOptions
from mige_eval.registry import UnknownNameError
from mige_eval.reproduce import reproduce

TESTS = Path(__file__).resolve().parents[1]
HELPERS = TESTS / "helpers" / "adapters.py"


@pytest.fixture()
def setup(tmp_path, dreambench_root, tiny_clip, tiny_dino):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dreambench").symlink_to(dreambench_root)
    clip, dino = tiny_clip, tiny_dino
    scoring = ScoringOptions(
        clip_model=str(clip), dino_model=str(dino), device="cpu", batch_size=4, cache_dir=tmp_path / "cache"
    )
    return dict(data_root=data, results=tmp_path / "results", limit=2, scoring=scoring, log=lambda m: None)


def test_reproduce_runs_skips_continues_and_writes_every_format(setup):
    models = ["copy-source", f"{HELPERS}:SeedNoise", f"{HELPERS}:EditOnly", f"{HELPERS}:DropsOne"]
    result = reproduce("2", models, **setup)
    runs = setup["results"] / "runs" / "dreambench"
    assert result.run_dirs == [runs / "copy-source", runs / "seed-noise"]
    text = "\n".join(result.notes)
    assert "EditOnly: skipped: adapter edit-only cannot run dreambench" in text
    assert "DropsOne: failed: RunError: adapter drops-one returned 1 images for 2 requests" in text
    assert not result.complete and result.exit_code == 1

    folder = setup["results"] / "reports" / "table-2"
    assert result.outputs == {
        "markdown": folder / "table.md",
        "latex": folder / "table.tex",
        "csv": folder / "table.csv",
        "html": folder / "gallery",
    }
    markdown = (folder / "table.md").read_text()
    # --limit 2 and tiny local backbones: both runs are marked, never bold
    assert "| copy-source (run) † | " in markdown and "| seed-noise (run) † | " in markdown
    assert re.search(r"\| MIGE \| \*\*0\.744\*\* \| ", markdown) and "skipped: adapter edit-only" in markdown
    caption = markdown.splitlines()[0]
    assert "CLIP backbone a local checkpoint" in caption  # the caption says a local backbone was used...
    assert str(setup["scoring"].clip_model) not in caption and "sha256" not in caption  # ...never its path
    assert "seed-noise (run): incomplete: 2 of 750 samples; DINO backbone a local checkpoint" in markdown
    copy_row = next(line for line in markdown.splitlines() if line.startswith("| copy-source (run) † |"))
    assert "–" not in copy_row  # scored: every metric has a value
    assert r"\begin{table}" in (folder / "table.tex").read_text()
    assert "2,dreambench,all,runs,seed-noise (run),dino," in (folder / "table.csv").read_text()
    assert ",false,incomplete: 2 of 750 samples; DINO backbone" in (folder / "table.csv").read_text()
    gallery = (folder / "gallery" / "dreambench.html").read_text()
    assert gallery.count('<tr class="sample"') == 2 and "in the jungle" in gallery

    # again: both finished runs resume with nothing to do, their files untouched
    before = {p: p.stat().st_mtime_ns for d in result.run_dirs for p in d.rglob("*") if p.is_file()}
    again = reproduce("2", models[:2], **setup)
    assert again.complete and again.run_dirs == result.run_dirs
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_reproduce_refuses_bad_arguments_before_running(tmp_path):
    with pytest.raises(ValueError, match="reproduce takes one of 1, 2, 3"):
        reproduce("3a", results=tmp_path)
    with pytest.raises(UnknownNameError, match="Did you mean 'mige'"):
        reproduce("2", ["mgie"], results=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_reproduce_without_data_notes_every_failure_and_reports_published_rows(tmp_path):
    result = reproduce("3", ["copy-source"], tmp_path / "no-data", results=tmp_path / "results", log=lambda m: None)
    assert result.run_dirs == [] and not result.complete
    assert any(
        "migebench / copy-source: failed" in n and "pass --data-root DIR (DIR/migebench)" in n for n in result.notes
    )
    assert data_option("migebench") == "--data DIR"  # reproduce's spelling ends with it
    markdown = (tmp_path / "results" / "reports" / "table-3" / "table.md").read_text()
    assert "**Table 3a.**" in markdown and "**Table 3b.**" in markdown and "| I-O sim | 0.668 |" in markdown


def test_an_error_every_run_meets_is_said_once(setup, tmp_path):
    """A missing backbone fails every model's run; the second failure refers to the first note."""
    logged: list[str] = []
    setup["scoring"] = ScoringOptions(
        clip_model=str(tmp_path / "no-clip"),
        dino_model=setup["scoring"].dino_model,
        device="cpu",
        cache_dir=tmp_path / "cache",
    )
    result = reproduce("2", ["copy-source", f"{HELPERS}:SeedNoise"], **{**setup, "log": logged.append})
    first = [n for n in result.notes if "no-clip" in n]
    assert len(first) == 1 and first[0].startswith("dreambench / copy-source: failed: MissingWeightsError:")
    assert (
        f"dreambench / {HELPERS}:SeedNoise: failed: the same MissingWeightsError as dreambench / copy-source"
        in result.notes
    )
    assert [line for line in logged if "failed" in line] == [n for n in result.notes if "failed" in n]  # logged once
