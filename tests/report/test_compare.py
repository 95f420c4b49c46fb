"""``mige-eval compare`` on small runs computed by hand, its refusals, formats and command line."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from bootstrap_reference import reference_interval
from mige_eval.cli import app
from mige_eval.report.compare import compare_runs, render_comparison

IDS = {"object": ["a-0", "a-1", "b-0", "b-1", "c-0", "c-1"]}


def subject(sample_id: str) -> str:
    return sample_id.split("-")[0]


#: Per sample, in IDS order. B's last sample fails, so the runs share five samples.
A = {"dino": [0.5, 0.6, 0.7, 0.7, 0.2, 0.4], "clip_t": [0.3] * 6, "l1": [0.1] * 6}
B = {
    "dino": [0.6, 0.7, 0.6, 0.7, 0.5, 0.4],
    "clip_t": [0.31, None, 0.29, 0.3, 0.35, 0.3],
    "l1": [0.05, 0.2, 0.1, 0.1, 0.1, 0.0],
}


@pytest.fixture()
def pair(tmp_path, make_run):
    a = make_run(tmp_path / "runs" / "a", "dreambench", "mige", {"object": A}, ids=IDS, cluster=subject)
    b = make_run(tmp_path / "runs" / "b", "dreambench", "omnigen", {"object": B}, ids=IDS, cluster=subject, failed=1)
    return a, b


def by_hand(a, b, units):
    """Mean difference, exact sign-flip p over units, and (wins, ties, losses), written out."""
    diffs = [y - x for x, y in zip(a, b)]
    sums: dict[str, float] = {}
    for d, u in zip(diffs, units):
        sums[u] = sums.get(u, 0.0) + d
    observed = abs(sum(sums.values()))
    flips = list(itertools.product([-1, 1], repeat=len(sums)))
    hits = sum(abs(sum(s * v for s, v in zip(signs, sums.values()))) >= observed - 1e-12 for signs in flips)
    return sum(diffs) / len(diffs), hits / len(flips), diffs


def test_numbers_match_a_hand_computation(pair):
    a, b = pair
    comparison = compare_runs([a, b])
    (result_pair,) = comparison.pairs
    assert result_pair.shared == 5 and result_pair.generated == (6, 5)
    results = {r.metric: r for r in result_pair.results}
    assert list(results) == ["dino", "clip_t", "l1"] and comparison.unit == "subject"

    units = [subject(i) for i in IDS["object"][:5]]
    mean, p, diffs = by_hand(A["dino"][:5], B["dino"][:5], units)
    dino = results["dino"]
    assert dino.n == 5 and dino.units == 3
    assert dino.difference == pytest.approx(mean) == pytest.approx(0.08)
    assert dino.mean_baseline == pytest.approx(0.54) and dino.mean_other == pytest.approx(0.62)
    assert dino.test.exact and dino.test.p_value == p == 0.5  # unit sums 0.2, -0.1, 0.3: 4 of 8 vectors reach 0.4
    assert dino.ci == pytest.approx(list(reference_interval(diffs, units)))
    assert (dino.wins, dino.ties, dino.losses) == (3, 1, 1) and dino.win_rate == pytest.approx(0.6)
    assert result_pair.notes == [
        "dino, clip_t, l1: with 3 resampling units the sign-flip test cannot give p below "
        "0.25, and the interval rests on as few units"
    ]

    # clip_t is undefined for B's second sample: four pairs
    keep = [0, 2, 3, 4]
    mean, p, _ = by_hand([A["clip_t"][i] for i in keep], [B["clip_t"][i] for i in keep], [units[i] for i in keep])
    assert results["clip_t"].n == 4 and results["clip_t"].difference == pytest.approx(mean)
    assert results["clip_t"].test.p_value == p

    # lower is better for L1: B wins where its L1 is smaller
    l1 = results["l1"]
    assert not l1.higher_is_better and (l1.wins, l1.ties, l1.losses) == (1, 3, 1)
    assert l1.difference == pytest.approx((-0.05 + 0.1 + 0 + 0 + 0) / 5)


def test_formats(pair, tmp_path):
    a, b = pair
    text = render_comparison([a, b])
    assert "### `b` against `a`: 5 shared samples (a generated 6, b 5)" in text
    assert "| dino ↑ | 5 | 3 | 0.5400 | 0.6200 | +0.0800 | [" in text and "| 0.500 | 3 / 1 / 1 | 0.600 |" in text
    assert "| l1 ↓ | 5 | 3 |" in text and "resampling subjects (2,000 resamples, seed 0)" in text
    assert "every sign vector when there are at most 16 subjects" in text
    assert f"scoring {json.loads((a / 'summary.json').read_text())['scoring']['dino']}: DINO backbone" in text

    data = json.loads(render_comparison([a, b], "json"))
    (entry,) = data["comparisons"]
    dino = entry["metrics"][0]
    assert data["benchmark"] == "dreambench" and data["unit"] == "subject" and entry["shared"] == 5
    assert dino["metric"] == "dino" and dino["p_value"] == 0.5 and dino["exact"] is True and dino["draws"] == 8
    assert dino["difference"] == pytest.approx(0.08) and (dino["wins"], dino["ties"], dino["losses"]) == (3, 1, 1)
    assert data["scorings"][dino["scoring"]]["metric"] == "dino"

    out = tmp_path / "reports" / "compare.tex"
    latex = render_comparison([a, b], "latex", out=out)
    assert out.read_text() == latex and r"\begin{tabular}" in latex and r"95\% CI" in latex
    assert r"dino $\uparrow$ & 5 & 3 & 0.5400 & 0.6200 & +0.0800" in latex
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex not found (texlive-latex-base, texlive-latex-recommended)")
    (out.parent / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{compare.tex}\n\\end{document}\n"
    )
    result = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_three_runs_compare_each_with_the_first(pair, tmp_path, make_run):
    a, b = pair
    c = make_run(tmp_path / "runs" / "c", "dreambench", "mige", {"object": A}, ids=IDS, cluster=subject)
    comparison = compare_runs([a, b, c])
    assert [p.other.label for p in comparison.pairs] == ["b", "c"]
    same = {r.metric: r for r in comparison.pairs[1].results}
    assert same["dino"].difference == 0 and same["dino"].test.p_value == 1.0 and same["dino"].ties == 6
    assert same["dino"].win_rate == 0


def test_refusals_say_why(pair, tmp_path, make_run):
    a, b = pair
    other_bench = make_run(tmp_path / "runs" / "m", "migebench", "mige", {"add": {"dino": 0.5}})
    with pytest.raises(ValueError, match="compare needs runs of one benchmark: a is dreambench, m is migebench"):
        compare_runs([a, other_bench])
    clip_l = make_run(
        tmp_path / "runs" / "l14",
        "dreambench",
        "omnigen",
        {"object": B},
        ids=IDS,
        cluster=subject,
        presets=("clip-l14",),
    )
    with pytest.raises(ValueError) as refused:
        compare_runs([a, clip_l])
    message = str(refused.value)
    assert (
        "clip_t was scored under other settings (models.clip: 'openai/clip-vit-base-patch32@0123abc|fp32' in a, "
        "'openai/clip-vit-large-patch14@0123abc|fp32' in l14)" in message
    )
    assert "dino" not in message.split("Score the runs")[0] and "--metrics" in message
    assert [r.metric for r in compare_runs([a, clip_l], metrics=["dino", "l1"]).pairs[0].results] == ["dino", "l1"]
    with pytest.raises(ValueError, match="m2 has no values of clip_t; it has dino"):
        compare_runs(
            [a, make_run(tmp_path / "runs" / "m2", "dreambench", "x", {"object": {"dino": 0.5}})], metrics=["clip_t"]
        )
    partial = make_run(
        tmp_path / "runs" / "dino-only", "dreambench", "x", {"object": {"dino": A["dino"]}}, ids=IDS, cluster=subject
    )
    assert compare_runs([a, partial]).notes == [
        "clip_t: not in every run, not compared",
        "l1: not in every run, not compared",
    ]
    with pytest.raises(ValueError, match="at least two run directories"):
        compare_runs([a])
    with pytest.raises(ValueError, match="give each run directory itself"):
        compare_runs([a, tmp_path / "runs"])
    disjoint = make_run(
        tmp_path / "runs" / "d",
        "dreambench",
        "mige",
        {"object": {"dino": 0.5}},
        ids={"object": ["z-0", "z-1"]},
        cluster=subject,
    )
    with pytest.raises(ValueError, match="share no generated sample with a"):
        compare_runs([a, disjoint], metrics=["dino"])
    run_json = json.loads((b / "run.json").read_text())
    run_json["generation"]["bench"]["source"] = {"kind": "github", "revision": "other"}
    (b / "run.json").write_text(json.dumps(run_json))
    with pytest.raises(ValueError, match="b and a read different data for dreambench"):
        compare_runs([a, b])


def test_command_line(pair, tmp_path):
    a, b = pair
    runner = CliRunner()
    ok = runner.invoke(app, ["compare", str(a), str(b), "--format", "json", "--out", str(tmp_path / "c.json")])
    assert ok.exit_code == 0 and f"wrote {tmp_path / 'c.json'}" in ok.output
    assert json.loads((tmp_path / "c.json").read_text())["comparisons"][0]["shared"] == 5
    shown = runner.invoke(app, ["compare", str(a), str(b), "--metrics", "dino"])
    assert shown.exit_code == 0 and "| dino ↑ |" in shown.output and "clip_t ↑" not in shown.output
    refused = runner.invoke(app, ["compare", str(a)])
    assert refused.exit_code == 2 and "at least two run directories" in refused.output
    bad = runner.invoke(app, ["compare", str(a), str(b), "--format", "pdf"])
    assert bad.exit_code == 2 and "unknown --format 'pdf'" in bad.output
