"""Golden files: a small set of run directories gives exactly the expected Markdown, LaTeX and CSV.

After an intended change of the output, rewrite the files with ``MIGE_EVAL_UPDATE_GOLDEN=1 pytest
tests/report/test_golden.py`` and review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mige_eval.report.render import render

GOLDEN = Path(__file__).parent / "golden"
EDIT = ("dino", "clip_i", "clip_t", "clip_dir", "l1", "l2")


@pytest.fixture()
def runs(tmp_path, make_run) -> Path:
    root = tmp_path / "runs"
    make_run(root / "emuedit" / "mige", "emuedit", "mige",
             {"global": dict(zip(EDIT, (0.8404, 0.866, 0.31, 0.12, 0.081, 0.025))),
              "add": dict(zip(EDIT, (0.8404, 0.866, 0.31, None, 0.081, 0.025)))}, n=2, failed=1)
    make_run(root / "magicbrush" / "mige", "magicbrush", "mige",
             {"test": dict(zip(EDIT, (0.9, 0.9, 0.3, 0.1, 0.06, 0.01)))}, presets=("clip-l14",))
    make_run(root / "emuedit" / "copy-source", "emuedit", "copy-source",
             {"test": dict(zip(EDIT, (0.95, 0.96, 0.29, None, 0.0, 0.0)))})
    (root / "magicbrush" / "omnigen").mkdir(parents=True)
    (root / "magicbrush" / "omnigen" / "run.json").write_text("{}")
    return root


@pytest.mark.parametrize("fmt, name", [("markdown", "table1.md"), ("latex", "table1.tex"), ("csv", "table1.csv")])
def test_golden(runs, fmt, name):
    text = render([runs], fmt, "1").text
    golden = GOLDEN / name
    if os.environ.get("MIGE_EVAL_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
