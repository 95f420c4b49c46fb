"""``mige-eval score`` on real DreamBench outputs: flat folders and mapping files, what is refused before
any work, byte-for-byte storage and resume, and what a log file shows (no terminal, Ctrl-C).

The benchmark-specific layouts (MagicBrush tree, MIGE ``<idx>.jpg``, Emu Edit generations) are tested
with their benchmarks in tests/benchmarks/.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mige_eval.cli import app

REPO = Path(__file__).resolve().parents[1]
HELPERS = REPO / "tests" / "helpers" / "adapters.py"
IDS = ["backpack-00", "backpack-01", "backpack-02", "backpack-03"]


def cli(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(result) -> str:
    return " ".join(result.output.split())


def records(run_dir: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}


def photo(dreambench_root: Path, n: int, fmt: str = "PNG", size=(96, 80)) -> bytes:
    """A real photo (the n-th of the dog's) encoded as ``fmt``."""
    with Image.open(dreambench_root / "dog" / f"0{n % 5}.jpg") as img:
        buf = io.BytesIO()
        img.convert("RGB").resize(size).save(buf, format=fmt)
        return buf.getvalue()


def score(dreambench_root: Path, images: Path, out: Path, *extra) -> object:
    return cli(
        "score",
        "--bench",
        "dreambench",
        "--data",
        dreambench_root,
        "--images",
        images,
        "--out",
        out,
        "--metrics",
        "none",
        "--limit",
        len(IDS),
        "--quiet",
        *extra,
    )


def test_png_outputs_are_stored_byte_for_byte_and_resume_finds_any_suffix(tmp_path, dreambench_root):
    images = tmp_path / "outputs"
    images.mkdir()
    suffixes = {sample_id: (".png", ".webp")[n % 2] for n, sample_id in enumerate(IDS)}
    files = {sample_id: photo(dreambench_root, n, suffixes[sample_id][1:].upper()) for n, sample_id in enumerate(IDS)}
    for sample_id, data in files.items():
        (images / f"{sample_id}{suffixes[sample_id]}").write_bytes(data)
    out = tmp_path / "run"
    result = score(dreambench_root, images, out)
    assert result.exit_code == 0, result.output
    by_id = records(out)
    assert [by_id[i]["image"] for i in IDS] == [
        "images/backpack-00.png",
        "images/backpack-01.webp",
        "images/backpack-02.png",
        "images/backpack-03.webp",
    ]
    for sample_id, data in files.items():
        assert (out / by_id[sample_id]["image"]).read_bytes() == data

    # The same command again finds every stored image, whatever its suffix: nothing to do, nothing rewritten.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    result = score(dreambench_root, images, out)
    assert result.exit_code == 0 and "generated 0, scored 0 now" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()} == stamps


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_mapping_file_names_any_file_for_any_sample(tmp_path, dreambench_root, kind):
    (tmp_path / "gen" / "batch1").mkdir(parents=True)
    files = {}
    for n, sample_id in enumerate(IDS[:3]):
        relative = f"gen/batch1/img_{n:04d}.jpg"
        files[sample_id] = photo(dreambench_root, n, "JPEG")
        (tmp_path / relative).write_bytes(files[sample_id])
    entries = [(sample_id, f"gen/batch1/img_{n:04d}.jpg") for n, sample_id in enumerate(IDS[:3])]
    entries.append(("not-a-sample", "gen/batch1/img_0000.jpg"))
    mapping = tmp_path / f"outputs.{kind}"
    if kind == "csv":
        mapping.write_text("id,path,seed\n" + "".join(f"{i},{p},0\n" for i, p in entries))
    else:
        mapping.write_text("".join(json.dumps({"id": i, "path": p}) + "\n" for i, p in entries))
    out = tmp_path / "run"
    result = score(dreambench_root, mapping, out)
    assert result.exit_code == 1  # backpack-03 is not listed: it fails, the others are stored
    text = flat(result)
    assert "layout mapping (detected)" in text and "1 output(s) in" in text
    assert f"match no sample: outputs.{kind} line {5 if kind == 'csv' else 4} (id not-a-sample)" in text
    by_id = records(out)
    for sample_id, data in files.items():
        assert by_id[sample_id]["image"] == f"images/{sample_id}.jpg"
        assert (out / by_id[sample_id]["image"]).read_bytes() == data
    assert by_id["backpack-03"]["error"] == f"no output for sample backpack-03: outputs.{kind} does not list it"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("map.csv", "sample,file\nbackpack-00,a.png\n", "map.csv needs a header line naming the columns id and path"),
        (
            "map.jsonl",
            '{"id": "backpack-00", "path": "a.png"}\n{"id": "backpack-01",\n',
            "map.jsonl line 2 is not JSON",
        ),
        ("map.jsonl", '{"id": "backpack-00", "path": 7}\n', "map.jsonl line 1: expected an id and a path (strings)"),
    ],
)
def test_a_broken_mapping_file_is_refused_naming_the_line(tmp_path, dreambench_root, name, text, message):
    (tmp_path / name).write_text(text)
    result = score(dreambench_root, tmp_path / name, tmp_path / "run")
    assert result.exit_code == 2 and message in flat(result)
    assert not (tmp_path / "run").exists()


def test_an_empty_folder_is_refused_before_any_work_saying_what_was_looked_for(tmp_path, dreambench_root):
    (tmp_path / "empty").mkdir()
    result = score(dreambench_root, tmp_path / "empty", tmp_path / "run")
    text = flat(result)
    assert result.exit_code == 2
    assert "no output in" in text and "matches any of the 750 samples of dreambench; nothing was scored" in text
    assert "flat: <sample id>.png/.jpg/.jpeg/.webp directly in" in text and "(e.g. backpack-00.png)" in text
    assert "holds 0 image file(s)" in text and "--layout mapping" in text
    assert not (tmp_path / "run").exists()

    # A folder of outputs named otherwise is refused the same way, showing what it holds.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "000001.png").write_bytes(photo(dreambench_root, 0))
    result = score(dreambench_root, tmp_path / "other", tmp_path / "run", "--layout", "flat")
    assert result.exit_code == 2 and "holds 1 image file(s): 000001.png" in flat(result)
    assert not (tmp_path / "run").exists()


def test_ambiguous_matches_are_refused(tmp_path, dreambench_root):
    images = tmp_path / "outputs"
    images.mkdir()
    for sample_id in IDS:
        (images / f"{sample_id}.png").write_bytes(photo(dreambench_root, 0))
    (images / "backpack-01.jpg").write_bytes(photo(dreambench_root, 1, "JPEG"))
    result = score(dreambench_root, images, tmp_path / "run")
    text = flat(result)
    assert result.exit_code == 2
    assert (
        "layout flat: 1 ambiguous match(es), so no output can be trusted to be its sample's: sample "
        "backpack-01: backpack-01.jpg and backpack-01.png"
    ) in text
    assert not (tmp_path / "run").exists()

    mapping = tmp_path / "map.csv"
    mapping.write_text("id,path\nbackpack-00,outputs/backpack-00.png\nbackpack-00,outputs/backpack-02.png\n")
    result = score(dreambench_root, mapping, tmp_path / "run")
    assert result.exit_code == 2 and "sample backpack-00: map.csv line 2 and map.csv line 3" in flat(result)


def test_unknown_layout_and_a_select_without_a_generations_dataset_are_refused(tmp_path, dreambench_root):
    images = tmp_path / "outputs"
    images.mkdir()
    (images / "backpack-00.png").write_bytes(photo(dreambench_root, 0))
    result = score(dreambench_root, images, tmp_path / "run", "--layout", "tree")
    assert result.exit_code == 2 and "unknown layout 'tree': use one of auto, magicbrush, mige" in flat(result)
    result = score(dreambench_root, images, tmp_path / "run", "--select", "emu")
    assert result.exit_code == 2 and "--select picks a model of the emu-generations layout" in flat(result)
    assert not (tmp_path / "run").exists()


# --- what a log file shows: no terminal, and Ctrl-C -------------------------------------------------


def mige_eval(*args, **popen) -> subprocess.Popen:
    env = {**os.environ, "MIGE_EVAL_PROGRESS_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mige_eval", *map(str, args)],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def test_without_a_terminal_progress_is_plain_log_lines(tmp_path, dreambench_root):
    images = tmp_path / "outputs"
    images.mkdir()
    for n in range(6):
        (images / f"backpack-0{n}.png").write_bytes(photo(dreambench_root, n))
    args = [
        "score",
        "--bench",
        "dreambench",
        "--data",
        dreambench_root,
        "--images",
        images,
        "--out",
        tmp_path / "scored",
        "--metrics",
        "none",
        "--batch-size",
        "2",
    ]
    _, stderr = mige_eval(*args, "--limit", "2").communicate(timeout=300)
    proc = mige_eval(*args, "--limit", "7")  # no --quiet: stderr is a pipe, not a terminal
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr  # backpack-06 has no output
    lines = stderr.splitlines()
    assert lines.index("resuming: 2 of 7 done") < lines.index("dreambench · scored: 5 to do")
    progress = [line for line in lines if line.startswith("dreambench · scored: ") and "/5 (" in line]
    assert [line.split(" (")[0] for line in progress] == [f"dreambench · scored: {n}/5" for n in (2, 4, 5)]
    assert "/s, ETA " in progress[0] and progress[0].endswith(", 0 failed")
    assert "/s, took " in progress[2] and progress[2].endswith(", 1 failed")
    assert "\x1b[" not in stderr and "━" not in stderr  # no colours, no bar


def test_ctrl_c_stops_with_130_and_the_same_command_resumes(tmp_path, dreambench_root):
    args = [
        "run",
        "--bench",
        "dreambench",
        "--data",
        dreambench_root,
        "--model",
        f"{HELPERS}:SeedNoise",
        "--model-arg",
        "delay=0.05",
        "--metrics",
        "none",
        "--batch-size",
        "2",
        "--out",
        tmp_path / "run",
    ]
    proc = mige_eval(*args)
    for line in proc.stderr:  # wait until some samples are done
        if line.startswith("dreambench · run: 4/750 "):
            break
    else:
        pytest.fail(f"the run ended before it could be interrupted (exit {proc.wait()})")
    proc.send_signal(signal.SIGINT)
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, stderr
    message = next(line for line in stderr.splitlines() if line.startswith("interrupted after "))
    done = int(message.split()[2])
    assert message == f"interrupted after {done} samples; the same command resumes" and done >= 4
    kept = len(records(tmp_path / "run"))  # every finished sample was kept (a batch may be recorded but
    assert done <= kept <= done + 2  # not yet counted when the signal comes)

    proc = mige_eval(*args, "--limit", kept + 2)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"resuming: {kept} of {kept + 2} done" in stderr.splitlines()
    assert len(records(tmp_path / "run")) == kept + 2


def test_help_names_every_layout():
    from mige_eval.layouts import CHOICES

    text = CliRunner().invoke(app, ["score", "--help"], env={"COLUMNS": "400"}).output
    assert all(f"{name} (" in text for name in CHOICES if name not in ("emu-generations", "mapping"))
    assert "emu-generations," in text and "mapping (id,path CSV or JSONL)" in text
