"""The generate → score loop on the real DreamBench: layout, resume, shards, failures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from mige_eval.runner import RunError, RunOptions, run
from mige_eval.sharding import sample_seed

HELPERS = Path(__file__).parent / "helpers" / "adapters.py"


def read_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory (but the lock) and its bytes."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def mige(*args: str, env: dict | None = None, check: bool = True, cwd: Path | None = None):
    result = subprocess.run(
        [sys.executable, "-m", "mige_eval", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def test_full_dreambench_copy_source_layout_and_rerun(tmp_path, dreambench_root):
    """The issue's main command: 750 records and images, summary per contract; a second run changes nothing."""
    out = tmp_path / "run"
    first = mige(
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(dreambench_root),
        "--model",
        "copy-source",
        "--metrics",
        "none",
        "--out",
        str(out),
        "--quiet",
        "--batch-size",
        "16",
    )
    records = read_records(out)
    assert len(records) == 750 and len({r["id"] for r in records}) == 750
    assert len(list((out / "images").glob("*.png"))) == 750
    summary = json.loads((out / "summary.json").read_text())
    assert {k: summary[k] for k in ("bench", "model", "n", "n_failed")} == {
        "bench": "dreambench",
        "model": "copy-source",
        "n": 750,
        "n_failed": 0,
    }
    assert summary["subsets"]["live"]["n"] == 9 * 25 and summary["subsets"]["object"]["n"] == 21 * 25
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["generation"]["seed"] == 0 and run_json["model"] == "copy-source"
    assert run_json["generation"]["bench"]["source"]["revision"].startswith("4f887af")
    assert run_json["data"]["source"]["revision"].startswith("4f887af")
    assert [h["outcome"] for h in run_json["history"]] == ["completed"] and run_json["history"][0]["added"] == {
        "images": 750,
        "scores": {},
        "failures": 0,
    }
    assert run_json["environment"]["packages"]["mige-eval"]
    first_record = records[0]
    assert first_record == {
        "id": "backpack-00",
        "subset": "object",
        "task": "subject",
        "cluster": "backpack",
        "image": "images/backpack-00.png",
        "seed": sample_seed(0, "backpack-00"),
        "references": [],
        "caption": None,
        "metrics": {},
        "flags": [],
        "error": None,
        "scores": {},
    }
    # copy-source returns the subject photo given in the instruction, pixel for pixel
    with Image.open(dreambench_root / "dog" / "00.jpg") as photo, Image.open(out / "images" / "dog-03.png") as img:
        assert img.tobytes() == photo.convert("RGB").tobytes()

    before = snapshot(out)
    second = mige(
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(dreambench_root),
        "--model",
        "copy-source",
        "--metrics",
        "none",
        "--out",
        str(out),
        "--quiet",
    )
    assert "generated 0" in second.stdout and "generated 750" in first.stdout
    assert snapshot(out) == before


def test_sigkill_then_resume_gives_every_sample_exactly_once(tmp_path, small_dreambench):
    out = tmp_path / "run"
    args = [
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(small_dreambench),
        "--model",
        f"{HELPERS}:SeedNoise",
        "--model-arg",
        "delay=0.02",
        "--metrics",
        "none",
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen([sys.executable, "-m", "mige_eval", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = out / "records" / "shard-000-of-001.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = journal.read_text().count("\n")
    assert 10 <= done_before < 75, "the run should have been killed part-way"
    mige(*args)
    records = read_records(out)
    assert len(records) == 75 and len({r["id"] for r in records}) == 75
    assert all(r["error"] is None for r in records)
    assert len(list((out / "images").glob("*.png"))) == 75
    assert not list(out.rglob("*.tmp"))
    # the images of the resumed run are those of a run never interrupted
    fresh = tmp_path / "fresh"
    mige(*[a if a != str(out) else str(fresh) for a in args])
    assert {p.name: p.read_bytes() for p in (out / "images").iterdir()} == {
        p.name: p.read_bytes() for p in (fresh / "images").iterdir()
    }


def _strip(records):
    return sorted(records, key=lambda r: r["id"])


def test_two_shards_equal_one_unsharded_run(tmp_path, small_dreambench):
    base = [
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(small_dreambench),
        "--model",
        f"{HELPERS}:SeedNoise",
        "--metrics",
        "none",
        "--quiet",
    ]
    mige(*base, "--out", str(tmp_path / "whole"), "--batch-size", "5")
    mige(*base, "--out", str(tmp_path / "sharded"), "--shard", "0/2", "--batch-size", "3")
    partial = json.loads((tmp_path / "sharded" / "summary.json").read_text())
    assert partial["n"] == 38 and any("incomplete" in n for n in partial["notes"])
    mige(*base, "--out", str(tmp_path / "sharded"), "--shard", "1/2", "--batch-size", "1")
    assert read_records(tmp_path / "whole") == read_records(tmp_path / "sharded")
    assert snapshot(tmp_path / "whole")["summary.json"] == snapshot(tmp_path / "sharded")["summary.json"]
    whole_images = {k: v for k, v in snapshot(tmp_path / "whole").items() if k.startswith("images/")}
    sharded_images = {k: v for k, v in snapshot(tmp_path / "sharded").items() if k.startswith("images/")}
    assert whole_images == sharded_images


def test_torchrun_two_processes_equal_one_run(tmp_path, small_dreambench):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed in this environment (it comes with torch)")
    base = [
        "--bench",
        "dreambench",
        "--data",
        str(small_dreambench),
        "--model",
        f"{HELPERS}:SeedNoise",
        "--metrics",
        "none",
        "--quiet",
        "--limit",
        "30",
    ]
    mige("run", *base, "--out", str(tmp_path / "whole"))
    result = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "mige_eval",
            "run",
            *base,
            "--out",
            str(tmp_path / "dist"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "dist" / "records").iterdir()) == [
        "shard-000-of-002.jsonl",
        "shard-001-of-002.jsonl",
    ]
    assert read_records(tmp_path / "whole") == read_records(tmp_path / "dist")


def test_corrupt_subject_photo_fails_only_its_samples(tmp_path, small_dreambench):
    photo = small_dreambench / "backpack" / "00.jpg"
    data = photo.read_bytes()
    photo.unlink()
    photo.write_bytes(data[: len(data) // 3])  # a truncated JPEG
    out = tmp_path / "run"
    result = mige(
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(small_dreambench),
        "--model",
        "copy-source",
        "--metrics",
        "none",
        "--out",
        str(out),
        "--quiet",
        check=False,
    )
    assert result.returncode == 1
    records = read_records(out)
    failed = [r for r in records if r["error"]]
    assert len(records) == 75 and len(failed) == 25
    assert all(r["id"].startswith("backpack-") and "backpack/00.jpg" in r["error"] for r in failed)
    assert all(r["image"] is None and r["metrics"] == {} for r in failed)
    assert json.loads((out / "summary.json").read_text())["n_failed"] == 25
    assert len(list((out / "images").iterdir())) == 50
    # once the photo is repaired, a rerun redoes exactly the failed samples
    photo.write_bytes(data)
    again = mige(
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(small_dreambench),
        "--model",
        "copy-source",
        "--metrics",
        "none",
        "--out",
        str(out),
        "--quiet",
    )
    assert "generated 25" in again.stdout
    assert all(r["error"] is None for r in read_records(out))


def test_adapter_raising_on_one_sample_fails_that_sample(tmp_path, small_dreambench):
    out = tmp_path / "run"
    opts = RunOptions(
        bench="dreambench",
        model=f"{HELPERS}:FailsOn",
        data=small_dreambench,
        out=out,
        metrics="none",
        model_args={"fail_id": "cat-07"},
        limit=40,
    )
    opts.scoring.batch_size = 8
    result = run(opts)
    assert result.exit_code == 1 and result.summary["n_failed"] == 1
    (bad,) = [r for r in read_records(out) if r["error"]]
    assert bad["id"] == "cat-07" and "fails-on" in bad["error"] and "model blew up on cat-07" in bad["error"]
    assert len(list((out / "images").iterdir())) == 39


def test_adapter_returning_wrong_number_of_images_is_named(tmp_path, small_dreambench):
    out = tmp_path / "run"
    result = mige(
        "run",
        "--bench",
        "dreambench",
        "--data",
        str(small_dreambench),
        "--model",
        f"{HELPERS}:DropsOne",
        "--metrics",
        "none",
        "--out",
        str(out),
        "--quiet",
        check=False,
    )
    assert result.returncode == 2
    assert "adapter drops-one returned 7 images for 8 requests" in " ".join(result.stderr.split())


def test_task_mismatch_refused_before_any_work(tmp_path, small_dreambench):
    out = tmp_path / "run"
    with pytest.raises(RunError, match=r"needs task\(s\) subject; the adapter supports edit"):
        run(RunOptions(bench="dreambench", model=f"{HELPERS}:EditOnly", data=small_dreambench, out=out, metrics="none"))
    assert not out.exists()


def test_changed_settings_refused_then_overwrite(tmp_path, small_dreambench):
    out = tmp_path / "run"
    common = dict(
        bench="dreambench", model=f"{HELPERS}:SeedNoise", data=small_dreambench, out=out, metrics="none", limit=4
    )
    run(RunOptions(**common))
    with pytest.raises(RunError, match=r"seed: 0 -> 1.*--overwrite"):
        run(RunOptions(**common, seed=1))
    assert len(list((out / "images").iterdir())) == 4
    result = run(RunOptions(**common, seed=1, overwrite=True))
    assert result.generated == 4
    assert all(r["seed"] == sample_seed(1, r["id"]) for r in read_records(out))


def test_seed_depends_on_sample_not_batch(tmp_path, small_dreambench):
    def images(batch_size: int, limit: int) -> dict[str, bytes]:
        out = tmp_path / f"b{batch_size}-{limit}"
        opts = RunOptions(
            bench="dreambench",
            model=f"{HELPERS}:SeedNoise",
            data=small_dreambench,
            out=out,
            metrics="none",
            limit=limit,
        )
        opts.scoring.batch_size = batch_size
        run(opts)
        return {p.name: p.read_bytes() for p in (out / "images").iterdir()}

    one = images(1, 12)
    assert images(5, 12) == one
    assert {k: v for k, v in images(7, 20).items() if k in one} == one


def test_metrics_none_then_score_later_with_a_card_file(tmp_path, small_dreambench):
    """Generate only, then the same command with metrics scores the stored images without regenerating.

    The benchmark is a user's card file reusing the DreamBench loader with pixel metrics; under
    ``single-reference`` copy-source's output is the reference itself, so L1 and L2 are exactly 0.
    """
    card = tmp_path / "pixel-dreambench.yaml"
    card.write_text(
        "name: pixel-dreambench\n"
        "description: DreamBench scored with pixel metrics against the input photo\n"
        "loader: mige_eval.benchmarks.dreambench:DreamBench\n"
        "tasks: [subject]\nmetrics: [l1, l2]\n"
        "source: {kind: local}\n"
    )
    out = tmp_path / "run"
    common = dict(
        bench=str(card), model="copy-source", data=small_dreambench, out=out, limit=3, presets=["single-reference"]
    )
    run(RunOptions(**common, metrics="none"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    result = run(RunOptions(**common))
    assert result.generated == 0 and result.scored == 3
    assert {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()} == mtimes
    assert result.summary["metrics"] == {"l1": 0.0, "l2": 0.0} and result.summary["counts"] == {"l1": 3, "l2": 3}
    assert [r["references"] for r in read_records(out)] == [["backpack/00.jpg"]] * 3
    assert all(
        list(r["scores"]) == [result.summary["scoring"]["l1"], result.summary["scoring"]["l2"]]
        for r in read_records(out)
    )
