"""Reports that cannot mislead, on real DreamBench runs scored with tiny backbones.

Two runs of the first 50 samples (subjects backpack and backpack_dog): the model-free copy-source,
scored with CLIP checkpoint A then again with checkpoint B, and a seed-noise model scored with A.
Both are incomplete (50 of 750) and use local checkpoints, so every format must mark them and never
bold them, however high their numbers. A complete default run written directly stands beside them
as the comparable case.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from bootstrap_reference import reference_interval
from mige_eval import stats
from mige_eval.cli import app
from mige_eval.metrics.base import ScoringOptions
from mige_eval.report.compare import compare_runs
from mige_eval.report.render import render
from mige_eval.report.runs import find_runs
from mige_eval.report.scorings import choose
from mige_eval.report.tables import build_table
from mige_eval.runner import RunOptions, run

HELPERS = Path(__file__).resolve().parents[1] / "helpers" / "adapters.py"


def read(run_dir: Path, name: str):
    text = (run_dir / name).read_text()
    return json.loads(text) if name.endswith(".json") else [json.loads(line) for line in text.splitlines()]


def base_value(record: dict, key: str) -> float:
    return record["scores"][key]["value"]


@pytest.fixture(scope="module")
def real(tmp_path_factory, dreambench_root, tiny_clip, tiny_dino, make_run):
    from tiny_models import save_tiny_clip

    root = tmp_path_factory.mktemp("honest")
    clip_b = save_tiny_clip(root / "clip-b", seed=1)

    def scoring(clip):
        return ScoringOptions(
            clip_model=str(clip), dino_model=str(tiny_dino), device="cpu", batch_size=25, cache_dir=root / "cache"
        )

    runs = root / "runs"
    common = dict(bench="dreambench", data=dreambench_root, limit=50)
    copy = runs / "copy-source"
    run(RunOptions(**common, model="copy-source", out=copy, scoring=scoring(tiny_clip)))
    first = read(copy, "summary.json")["scoring"]
    run(RunOptions(**common, model="copy-source", out=copy, metrics="clip_i,clip_t", scoring=scoring(clip_b)))
    noise = runs / "seed-noise"
    run(RunOptions(**common, model=f"{HELPERS}:SeedNoise", out=noise, scoring=scoring(tiny_clip)))
    # a complete run under the defaults (written directly: no real backbone weights here)
    ids = {s: [f"{s}-{i}" for i in range(375)] for s in ("live", "object")}
    make_run(
        runs / "omnigen",
        "dreambench",
        "omnigen",
        {s: {"dino": 0.70, "clip_i": 0.79, "clip_t": 0.31} for s in ids},
        ids=ids,
        cluster=lambda i: f"{i.split('-')[0]}{int(i.split('-')[1]) // 25}",
    )
    return SimpleNamespace(root=root, runs=runs, copy=copy, noise=noise, clip_a=tiny_clip, clip_b=clip_b, first=first)


def test_limit_and_local_backbones_are_marked_in_every_format(real):
    markdown = render([real.runs], "markdown", "2", ci=True).text
    table = markdown[: markdown.index("## Runs")]
    noise_row = next(line for line in table.splitlines() if line.startswith("| seed-noise (run) † |"))
    assert "**" not in noise_row  # DINO 0.92 beats every published value, yet is not bold
    assert re.search(r"\| OmniGen\* \(run\) \| 0\.700 \(-0\.011\) \[0\.700, 0\.700\] \|", table)  # comparable
    assert re.search(r"\| MIGE \| \*\*0\.744\*\* \|", table)
    assert (
        "seed-noise (run): incomplete: 50 of 750 samples; DINO backbone a local checkpoint; CLIP backbone a "
        "local checkpoint"
    ) in table
    caption = table.splitlines()[0]
    assert "seed-noise (run) on DreamBench: 50 of 750 samples, 0 failed" in caption
    assert "resampling subjects for DreamBench (2,000 resamples, seed 0)" in caption
    assert str(real.root) not in caption and "sha256" not in caption and ".md" not in caption
    # the provenance, below the tables, names the checkpoint folders and keys
    assert str(real.clip_b) in markdown and real.first["clip_i"] in markdown

    latex = render([real.runs], "latex", "2", ci=True).text
    body = latex[latex.index(r"\begin{table}") :]
    assert r"seed-noise (run)$^\dagger$ & 0.920\,{\scriptsize [" in body and r"\textbf{0.920}" not in body
    assert r"{\raggedright\scriptsize $^\dagger$ Not comparable" in body and str(real.root) not in body
    assert str(real.clip_a) in latex[: latex.index(r"\begin{table}")]  # paths only in the comments
    pdflatex = shutil.which("pdflatex")
    if pdflatex is not None:
        (real.root / "t.tex").write_text(latex)
        (real.root / "doc.tex").write_text(
            "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{t.tex}\n\\end{document}\n"
        )
        done = subprocess.run(
            [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
            cwd=real.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout[-3000:]

    rows = list(csv.DictReader(io.StringIO(render([real.runs], "csv", "2", ci=True).text)))
    noise = [r for r in rows if r["method"] == "seed-noise (run)"]
    assert len(noise) == 3 and {r["comparable"] for r in noise} == {"false"} and {r["best"] for r in noise} == {"0"}
    assert noise[0]["reasons"].startswith("incomplete: 50 of 750 samples; DINO backbone a local checkpoint")
    summary = read(real.noise, "summary.json")
    assert [float(noise[0]["ci_low"]), float(noise[0]["ci_high"])] == pytest.approx(summary["ci"]["dino"], rel=1e-5)
    assert {r["comparable"] for r in rows if r["method"] == "OmniGen* (run)"} == {"true"}
    assert {(r["ci_low"], r["comparable"]) for r in rows if r["source"] == "published"} == {("", "")}
    plain = render([real.runs], "csv", "2").text
    assert plain.splitlines()[0].endswith("best,comparable,reasons")

    render([real.runs], "html", "2", output=real.root / "gallery", ci=True)
    index = (real.root / "gallery" / "index.html").read_text()
    row = re.search(r'<tr class="run marked"><td>seed-noise \(run\) †</td>(.*?)</tr>', index).group(1)
    assert "<b>" not in row and '<span class="ci">[' in row
    assert '<p class="d footnote">† Not comparable with the published rows' in index
    assert "<details><summary>provenance</summary>" in index and str(real.clip_b) in index
    assert "comparable with the published rows</b>: no: incomplete: 50 of 750 samples" in index


def test_dreambench_intervals_resample_subjects(real):
    """With two subjects, a quarter of the resamples draws one subject twice: the interval is exactly the
    two subjects' own means, whatever the spread of the 50 prompts (resampling those would not be)."""
    summary = read(real.noise, "summary.json")
    records = read(real.noise, "samples.jsonl")
    assert summary["uncertainty"] == {
        "method": "percentile bootstrap",
        "level": 0.95,
        "resamples": 2000,
        "seed": 0,
        "unit": "subject",
        "units": 2,
    }
    for metric in ("dino", "clip_i", "clip_t"):
        values = np.array([r["metrics"][metric] for r in records])
        subjects = np.array([r["id"].rsplit("-", 1)[0] for r in records])
        means = sorted(values[subjects == s].mean() for s in ("backpack", "backpack_dog"))
        assert summary["ci"][metric] == pytest.approx(means, abs=1e-12)
        assert summary["ci"][metric] == pytest.approx(list(reference_interval(values, subjects)), abs=1e-12)
        per_prompt = stats.mean_interval(values.tolist())
        assert per_prompt.to_json() != pytest.approx(summary["ci"][metric], abs=1e-6)
    (noise,) = [r for r in build_table("2", find_runs([real.runs])[0], ci=True).rows if r.label == "seed-noise (run)"]
    assert [noise.intervals[c] for c in noise.intervals] == [summary["ci"][m] for m in ("dino", "clip_i", "clip_t")]


def test_scoring_shows_an_earlier_configuration(real):
    summary = read(real.copy, "summary.json")
    old, new = real.first["clip_i"], summary["scoring"]["clip_i"]
    assert old != new and summary["scorings"][old]["current"] is False
    current = render([real.copy], "markdown", "2").text
    assert f"- scoring clip_i: {new} (current): CLIP backbone a local checkpoint" in current
    assert f"{old}: CLIP backbone a local checkpoint" in current  # listed among the other configurations

    earlier = render([real.copy], "markdown", "2", scoring=[old]).text
    assert f"- scoring clip_i: {old} (chosen with --scoring; current {new})" in earlier
    value = f"{summary['scorings'][old]['mean']:.3f}"
    assert f"| copy-source (run) † | {summary['metrics']['dino']:.3f} | {value} |" in earlier
    # subset numbers of the earlier configuration, from the per-sample entries
    (runinfo,), _ = find_runs([real.copy])
    choose([runinfo], [old])
    records = read(real.copy, "samples.jsonl")
    values = [r["scores"][old]["value"] for r in records]
    assert runinfo.value("clip_i", "object") == pytest.approx(np.mean(values))
    assert runinfo.interval("clip_i") == summary["scorings"][old]["ci"]
    assert runinfo.figures["complete"] is False and runinfo.keys()["clip_i"] == old

    # the gallery's sample pages show the same configuration
    render([real.copy], "html", "2", output=real.root / "earlier", scoring=[old])
    page = (real.root / "earlier" / "dreambench.html").read_text()
    row = page[page.index('data-id="backpack-00"') : page.index('data-id="backpack-01"')]
    assert (
        f"clip_i {base_value(records[0], old):.4f}" in row
        and f"clip_i {records[0]['metrics']['clip_i']:.4f}" not in row
    )

    runner = CliRunner()
    shown = runner.invoke(app, ["report", str(real.copy), "--table", "2", "--scoring", old, "--ci"])
    assert shown.exit_code == 0 and f"chosen with --scoring; current {new}" in shown.output
    unknown = runner.invoke(app, ["report", str(real.copy), "--scoring", "clip_i@0000000000"])
    assert (
        unknown.exit_code == 2 and "no run in the report has scoring configuration clip_i@0000000000" in unknown.output
    )
    assert old in unknown.output and new in unknown.output
    malformed = runner.invoke(app, ["report", str(real.copy), "--scoring", "clip_i"])
    assert malformed.exit_code == 2 and "is not a scoring key" in malformed.output
    twice = runner.invoke(app, ["report", str(real.copy), "--scoring", old, "--scoring", new])
    assert twice.exit_code == 2 and "names two configurations of clip_i" in twice.output


def test_compare_real_runs(real):
    with pytest.raises(ValueError, match="clip_i was scored under other settings \\(models.clip: 'local@sha256:"):
        compare_runs([real.copy, real.noise])
    comparison = compare_runs([real.copy, real.noise], scoring=[real.first["clip_i"], real.first["clip_t"]])
    (pair,) = comparison.pairs
    assert pair.shared == 50 and [r.metric for r in pair.results] == ["dino", "clip_i", "clip_t"]
    base = {r["id"]: r for r in read(real.copy, "samples.jsonl")}
    other = {r["id"]: r for r in read(real.noise, "samples.jsonl")}
    for result in pair.results:
        key = real.first[result.metric]
        diffs = np.array([other[i]["scores"][key]["value"] - base[i]["scores"][key]["value"] for i in base])
        units = [i.rsplit("-", 1)[0] for i in base]
        assert result.key == key and result.units == 2
        assert result.difference == pytest.approx(diffs.mean())
        assert result.ci == pytest.approx(list(reference_interval(diffs, units)))
        assert result.wins == int((diffs > 0).sum()) and result.ties == int((diffs == 0).sum())
        assert result.test.exact and result.test.draws == 4  # two subjects: 4 sign vectors
    assert pair.notes == [
        "dino, clip_i, clip_t: with 2 resampling units the sign-flip test cannot give p below 0.5, "
        "and the interval rests on as few units"
    ]
    # the runner's command line, as a user types it
    out = CliRunner().invoke(app, ["compare", str(real.copy), str(real.noise), "--metrics", "dino"])
    assert out.exit_code == 0 and "### `seed-noise` against `copy-source`: 50 shared samples" in out.output
