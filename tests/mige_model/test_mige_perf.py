"""``perf/mige_gpu.py --tiny``: the GPU benchmark's whole path (meta build, materialisation, staged and
released procedures, the table) on toy sizes on the CPU, as CI runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "mige_gpu.py"


def test_the_tiny_benchmark_prints_every_row(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--samples", "2", "--batch-sizes", "1,2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout[done.stdout.index("| rows |") :].strip().splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("mige-eval", "fp32", "no", "subject", "1"),
        ("mige-eval", "fp32", "no", "subject", "2"),
        ("mige-eval", "fp32", "no", "edit", "1"),
        ("mige-eval", "fp32", "no", "edit", "2"),
        ("released", "fp32", "no", "subject", "2"),
        ("released", "fp32", "no", "edit", "2"),
    ]
    assert all(float(r[5]) > 0 and r[6] == "n/a (CPU)" for r in rows)
    assert re.search(r"MIGE, toy sizes, random weights, on CPU; 2 images per row", done.stdout)


def test_without_a_gpu_the_full_size_run_says_what_to_do(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here: the full-size run would start")
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert done.returncode == 2
    assert "no CUDA device is visible: run on a GPU machine, or pass --tiny for the CPU smoke run" in done.stderr
