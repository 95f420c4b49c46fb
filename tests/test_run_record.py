"""The run record (issue: numbers you can trust): failed commands touch nothing, the history says how every
number got there, and one generation is scored any number of ways without regenerating or mixing values."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mige_eval.metrics.base import ScoringOptions
from mige_eval.runner import RunOptions, run

HELPERS = Path(__file__).parent / "helpers" / "adapters.py"


def digests(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of a run directory (lock and merge state included)."""
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


def mige(*args, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "mige_eval", *map(str, args)], capture_output=True, text=True, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture()
def finished(tmp_path, small_dreambench, tiny_clip, tiny_dino):
    """A finished, scored run of 6 samples (generated first, scored by a second command)."""
    out = tmp_path / "run"
    base = [
        "run",
        "--bench",
        "dreambench",
        "--data",
        small_dreambench,
        "--model",
        f"{HELPERS}:SeedNoise",
        "--out",
        out,
        "--quiet",
        "--limit",
        "6",
        "--cache-dir",
        tmp_path / "cache",
    ]
    mige(*base, "--metrics", "none")
    mige(*base, "--metrics", "dino,clip_i", "--clip-model", tiny_clip, "--dino-model", tiny_dino)
    return out, base


def test_failed_commands_leave_every_file_byte_identical(finished, tiny_clip, tiny_dino, tmp_path):
    out, base = finished
    before = digests(out)
    assert {"run.json", "summary.json", "samples.jsonl", "records/shard-000-of-001.jsonl"} <= set(before)
    scoring = ["--clip-model", tiny_clip, "--dino-model", tiny_dino]
    failing = {
        "missing backbone": [*base, "--metrics", "clip_t", "--limit", "3", "--clip-model", tmp_path / "no-such-clip"],
        "refused identity": [*base, "--metrics", "none", "--seed", "1"],
        "bad option": [*base, "--metrics", "none", "--model-arg", "colour=red"],
        "unknown metric": [*base, "--metrics", "dino,sharpness", *scoring],
        "foreign preset": [*base, "--metrics", "none", "--preset", "multi-turn"],
    }
    for what, args in failing.items():
        result = mige(*args, check=False)
        assert result.returncode == 2, (what, result.stdout, result.stderr)
        assert digests(out) == before, f"{what}: the run directory changed"
    assert "seed: 0 -> 1" in " ".join(mige(*failing["refused identity"], check=False).stderr.split())


def test_ctrl_c_before_the_first_output_touches_nothing_and_after_it_is_recorded(finished, tiny_clip, tiny_dino):
    out, base = finished
    before = digests(out)
    slow = [*base[:-4], "--limit", "12", "--metrics", "none", "--model-arg", "delay=30", "--batch-size", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mige_eval", *map(str, slow)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(4)  # the adapter now sleeps in its first batch
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert digests(out) == before
    # interrupted after a first batch of new images: the history says so, with what it added
    proc = subprocess.Popen(
        [sys.executable, "-m", "mige_eval", *map(str, slow[:-4]), "--model-arg", "delay=1.5", "--batch-size", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = out / "records" / "shard-000-of-001.jsonl"
    lines = journal.read_text().count("\n")
    deadline = time.time() + 60
    while time.time() < deadline and journal.read_text().count("\n") < lines + 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    history = read_json(out / "run.json")["history"]
    assert [h["outcome"] for h in history] == ["completed", "completed", "interrupted"]
    assert history[2]["added"]["images"] >= 2 and history[2]["ended"]


def test_history_records_each_command_that_changed_the_run(finished):
    out, base = finished
    mige(*base, "--metrics", "none")  # nothing to do: no entry
    history = read_json(out / "run.json")["history"]
    assert [h["outcome"] for h in history] == ["completed", "completed"]
    assert history[0]["added"] == {"images": 6, "scores": {}, "failures": 0}
    assert history[1]["added"] == {"images": 0, "scores": {"dino": 6, "clip_i": 6}, "failures": 0}
    assert history[1]["metrics"] == ["dino", "clip_i"] and "--dino-model" in history[1]["command"]
    assert all(h["started"] <= h["ended"] for h in history)


def test_generate_once_then_score_with_backbones_a_then_b_then_a(tmp_path, small_dreambench, tiny_clip, tiny_dino):
    from tiny_models import save_tiny_clip

    other_clip = save_tiny_clip(tmp_path / "clip-b", seed=1)
    out, cache = tmp_path / "run", tmp_path / "cache"

    def once(clip: Path | None) -> tuple:
        opts = RunOptions(
            bench="dreambench",
            model="copy-source",
            data=small_dreambench,
            out=out,
            limit=5,
            metrics="none" if clip is None else "dino,clip_i,clip_t",
            scoring=ScoringOptions(
                clip_model=str(clip) if clip else None, dino_model=str(tiny_dino), device="cpu", cache_dir=cache
            ),
        )
        result = run(opts, log=lambda m: None)
        images = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
        return result, images, read_json(out / "summary.json"), read_json(out / "run.json")

    gen, images, _, run_json = once(None)
    assert (
        gen.generated == 5 and not run_json["scorings"] and not run_json["current"] and "backbones_used" not in run_json
    )
    a, images_a, summary_a, _ = once(tiny_clip)
    b, images_b, summary_b, run_b = once(other_clip)
    again, images_again, summary_again, run_again = once(tiny_clip)
    assert images == images_a == images_b == images_again, "scoring never regenerates"
    assert (a.generated, a.scored, b.generated, b.scored) == (0, 5, 0, 5)
    assert (again.generated, again.scored) == (0, 0), "A's values are kept: nothing is recomputed"
    # clip metrics got a second configuration, dino kept its one (its settings did not change)
    assert summary_b["scoring"]["dino"] == summary_a["scoring"]["dino"]
    assert summary_b["scoring"]["clip_i"] != summary_a["scoring"]["clip_i"]
    assert summary_b["metrics"]["clip_i"] != summary_a["metrics"]["clip_i"]
    assert summary_again["metrics"] == summary_a["metrics"] and summary_again["scoring"] == summary_a["scoring"]
    # both configurations stay in the run, named, with their settings
    keys = {k for k, info in run_again["scorings"].items() if info["metric"] == "clip_i"}
    assert keys == {summary_a["scoring"]["clip_i"], summary_b["scoring"]["clip_i"]}
    fingerprints = {run_again["scorings"][k]["settings"]["models"]["clip"].split("|")[0] for k in keys}
    assert len(fingerprints) == 2 and all(f.startswith("local@sha256:") for f in fingerprints)
    assert {k: v["mean"] for k, v in summary_again["scorings"].items() if k in keys} == {
        summary_a["scoring"]["clip_i"]: summary_a["metrics"]["clip_i"],
        summary_b["scoring"]["clip_i"]: summary_b["metrics"]["clip_i"],
    }
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(len([k for k in r["scores"] if k.startswith("clip_i@")]) == 2 for r in records)
    assert [h["added"]["scores"] for h in run_again["history"]] == [
        {},
        {"dino": 5, "clip_i": 5, "clip_t": 5},
        {"clip_i": 5, "clip_t": 5},
        {},
    ]


def test_scoring_later_with_local_backbones_is_never_refused(tmp_path, small_dreambench, tiny_clip, tiny_dino):
    """The issue's case: a --metrics none run, then scored with --clip-model DIR: accepted, no regeneration."""
    out = tmp_path / "run"
    base = [
        "run",
        "--bench",
        "dreambench",
        "--data",
        small_dreambench,
        "--model",
        "copy-source",
        "--out",
        out,
        "--quiet",
        "--limit",
        "2",
    ]
    mige(*base, "--metrics", "none")
    scored = mige(*base, "--metrics", "clip_t", "--clip-model", tiny_clip, "--cache-dir", tmp_path / "c")
    assert "generated 0, scored 2 now" in scored.stdout


def test_bootstrap_interval_resamples_subjects(tmp_path, small_dreambench):
    """With two subjects the cluster bootstrap can only draw {A, A}, {A, B}, {B, A}, {B, B}: its 95 % interval
    is exactly [lower subject mean, higher subject mean]. Resampling the 50 samples one by one would give a
    much narrower one."""
    import numpy as np

    from mige_eval.summary import summarize

    rng = np.random.default_rng(3)
    records = [
        {
            "id": f"{subject}-{i:02d}",
            "subset": "object",
            "cluster": subject,
            "error": None,
            "metrics": {"dino": float(base + 0.01 * rng.standard_normal())},
        }
        for subject, base in (("dog", 0.8), ("cat", 0.5))
        for i in range(25)
    ]
    summary = summarize(records, bench="dreambench", model="m", unit="subject")
    means = sorted(np.mean([r["metrics"]["dino"] for r in records if r["cluster"] == s]) for s in ("dog", "cat"))
    assert summary["ci"]["dino"] == pytest.approx(means, abs=1e-12)
    assert summary["uncertainty"] == {
        "method": "percentile bootstrap",
        "level": 0.95,
        "resamples": 2000,
        "seed": 0,
        "unit": "subject",
        "units": 2,
    }
    per_sample = summarize([{**r, "cluster": None} for r in records], bench="dreambench", model="m")
    low, high = per_sample["ci"]["dino"]
    assert high - low < 0.5 * (means[1] - means[0])


def test_bootstrap_interval_matches_the_normal_approximation_over_many_units():
    """Over 30 independent units the percentile interval is close to mean ± 1.96 · SE, SE from the
    textbook formula for a ratio of cluster sums (an independent computation)."""
    import numpy as np

    from mige_eval.stats import mean_interval

    rng = np.random.default_rng(7)
    units = [f"s{u}" for u in range(30) for _ in range(25)]
    values = [float(rng.normal(loc=0.7 + 0.05 * (int(u[1:]) % 5), scale=0.05)) for u in units]
    interval = mean_interval(values, units)
    y = np.array([sum(v for v, w in zip(values, units) if w == u) for u in dict.fromkeys(units)])
    n = np.array([25.0] * 30)
    ratio = y.sum() / n.sum()
    se = np.sqrt(np.sum((y - ratio * n) ** 2) / (30 * 29)) / n.mean() * np.sqrt(29 / 30)
    assert interval.low == pytest.approx(ratio - 1.96 * se, abs=0.25 * se)
    assert interval.high == pytest.approx(ratio + 1.96 * se, abs=0.25 * se)


def test_dreambench_input_photos_mige_examples(tmp_path, small_dreambench):
    from PIL import Image

    out = tmp_path / "run"
    result = run(
        RunOptions(
            bench="dreambench",
            model="copy-source",
            data=small_dreambench,
            out=out,
            metrics="none",
            presets=["mige-examples", "single-reference"],
        ),
        log=lambda m: None,
    )
    assert result.summary["n"] == 75
    generation = read_json(out / "run.json")["generation"]["bench"]
    assert generation["dreambench_input"] == "mige-examples" and generation["dreambench_input_form"] == "photo"
    with Image.open(small_dreambench / "dog" / "02.jpg") as photo, Image.open(out / "images" / "dog-00.png") as img:
        assert img.tobytes() == photo.convert("RGB").tobytes()
    with Image.open(small_dreambench / "cat" / "00.jpg") as photo, Image.open(out / "images" / "cat-00.png") as img:
        assert img.tobytes() == photo.convert("RGB").tobytes()
    # another input mapping makes other images: refused in the same directory
    with pytest.raises(RuntimeError, match="dreambench_input: 'mige-examples' -> 'first-photo'"):
        run(RunOptions(bench="dreambench", model="copy-source", data=small_dreambench, out=out, metrics="none"))


def test_dreambench_segmented_inputs_are_grounded_sam_cut_outs(tmp_path, small_dreambench, tiny_gdino, tiny_sam):
    """Under ``segmented`` the model gets each input photo cut out on black by Grounded-SAM with the class noun
    as the prompt (the independent re-statement of the authors' script gives the same pixels); the photo
    stays the reference, the cut-out is kept in inputs/ and its detector is part of the generation identity."""
    from PIL import Image

    from tiny_grounding import reference_crop

    out = tmp_path / "run"
    opts = dict(
        bench="dreambench",
        model="copy-source",
        data=small_dreambench,
        out=out,
        metrics="none",
        limit=30,
        presets=["segmented"],
    )
    scoring = ScoringOptions(
        detector_model=str(tiny_gdino), sam_model=str(tiny_sam), device="cpu", cache_dir=tmp_path / "cache"
    )
    run(RunOptions(**opts, scoring=scoring), log=lambda m: None)
    for subject, noun in (("backpack", "backpack"), ("cat", "cat")):
        with Image.open(small_dreambench / subject / "00.jpg") as photo:
            expected, _flags = reference_crop(tiny_gdino, tiny_sam, photo.convert("RGB"), f"{noun}.")
        with Image.open(out / "images" / f"{subject}-00.png") as img:
            assert img.size == expected.size and img.tobytes() == expected.tobytes()
        assert (out / "inputs" / f"{subject}-00.png").is_file()
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(r["error"] is None for r in records)
    segmenter = read_json(out / "run.json")["generation"]["bench"]["segmenter"]
    assert segmenter["detector"].startswith("local@sha256:") and segmenter["procedure"] == "grounded-sam-v1"
    assert any("inputs segmented with Grounded-SAM" in n for n in read_json(out / "summary.json")["notes"])


def test_a_scored_run_reports_incomplete_metrics_after_a_partial_rescore(finished, tmp_path):
    """Scoring 2 of 6 samples with another backbone makes that configuration current for its metric, over
    2 samples: the summary says 4 are missing and the run is not complete (never a silent mix of A and B)."""
    from tiny_models import save_tiny_clip

    out, base = finished
    other = save_tiny_clip(tmp_path / "clip-b", seed=2)
    mige(*base[:-4], "--limit", "2", "--metrics", "clip_i", "--clip-model", other, "--cache-dir", tmp_path / "c")
    summary = read_json(out / "summary.json")
    assert summary["counts"]["clip_i"] == 2 and summary["missing"] == {"clip_i": 4} and not summary["complete"]
    assert summary["counts"]["dino"] == 6
    assert "clip_i: not scored yet for 4 samples under its current configuration" in summary["notes"]


def test_a_shard_with_no_samples_writes_nothing_and_reports_an_empty_run(tmp_path, small_dreambench):
    out = tmp_path / "run"
    result = run(
        RunOptions(
            bench="dreambench",
            model="copy-source",
            data=small_dreambench,
            out=out,
            metrics="none",
            limit=2,
            shard="3/4",
        ),
        log=lambda m: None,
    )
    assert (result.summary["n"], result.summary["expected"], result.generated) == (0, 75, 0)
    assert not out.exists()
