"""Golden files: a small set of run directories gives exactly the expected Markdown, LaTeX and CSV.

After an intended change of the output, rewrite the files with ``MIGE_EVAL_UPDATE_GOLDEN=1 pytest
tests/report/test_golden.py`` and review the diff.

The runs: MIGE on MagicBrush complete under the defaults (comparable: differenced, may be bold), MIGE
on Emu Edit stored as JPEG (the published MIGE row's convention) but with a failed sample, the
reference copy-source on a two-sample Emu Edit copy, and InstructPix2Pix scored with a local CLIP
checkpoint (all three marked with a dagger and never bold), plus an unfinished run (a note).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mige_eval.report.render import render

GOLDEN = Path(__file__).parent / "golden"
EDIT = ("dino", "clip_i", "clip_t", "clip_dir", "l1", "l2")
TURNS = 1053  # MagicBrush single-turn test turns: the published evaluation set


def spread(centre: float, width: float) -> list[float]:
    """TURNS deterministic values around ``centre`` (so the intervals are not empty)."""
    return [centre + width * (((i * 37) % 101) / 100 - 0.5) for i in range(TURNS)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, make_run) -> Path:
    root = tmp_path_factory.mktemp("golden") / "runs"
    make_run(
        root / "emuedit" / "mige",
        "emuedit",
        "mige",
        {
            "global": dict(zip(EDIT, (0.8404, 0.866, 0.31, 0.12, 0.081, 0.025))),
            "add": dict(zip(EDIT, (0.8404, 0.866, 0.31, None, 0.081, 0.025))),
        },
        n=2,
        failed=1,
        presets=("jpeg75",),
    )
    make_run(
        root / "magicbrush" / "mige",
        "magicbrush",
        "mige",
        {
            "test": {
                m: spread(c, w)
                for m, c, w in zip(EDIT, (0.9, 0.9, 0.31, 0.13, 0.05, 0.01), (0.1, 0.05, 0.04, 0.2, 0.04, 0.01))
            }
        },
        n=TURNS,
        cluster=lambda sample_id: f"session-{int(sample_id.split('-')[1]) // 2}",
    )
    make_run(
        root / "emuedit" / "copy-source",
        "emuedit",
        "copy-source",
        {"test": dict(zip(EDIT, (0.95, 0.96, 0.29, None, 0.0, 0.0)))},
    )
    make_run(
        root / "magicbrush" / "instructpix2pix",
        "magicbrush",
        "instructpix2pix",
        {"test": dict(zip(EDIT, (0.95, 0.95, 0.35, 0.2, 0.03, 0.005)))},
        backbones={"clip": "/models/my-clip"},
        cluster=lambda sample_id: f"session-{sample_id}",
    )
    (root / "magicbrush" / "omnigen").mkdir(parents=True)
    (root / "magicbrush" / "omnigen" / "run.json").write_text("{}")
    return root


@pytest.mark.parametrize("ci", [False, True], ids=["plain", "ci"])
@pytest.mark.parametrize("fmt, suffix", [("markdown", "md"), ("latex", "tex"), ("csv", "csv")])
def test_golden(runs, fmt, suffix, ci):
    # the provenance names the run directories: the folder of this test's runs reads RUNS
    text = render([runs], fmt, "1", ci=ci).text.replace(str(runs.resolve()), "RUNS")
    golden = GOLDEN / f"table1{'-ci' if ci else ''}.{suffix}"
    if os.environ.get("MIGE_EVAL_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
