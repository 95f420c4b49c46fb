"""Which runs may stand beside the published rows, and why not, in words a paper can print."""

from __future__ import annotations

import json

import pytest

from mige_eval.report.comparability import assess, describe
from mige_eval.report.published import EVALUATION_SAMPLES, ROW_CONVENTIONS
from mige_eval.report.runs import find_runs
from mige_eval.report.tables import build_table

DREAM = ("dino", "clip_i", "clip_t")


def subject_of(sample_id: str) -> str:
    return f"subject{int(sample_id.split('-')[1]) // 25}"


def dreambench(make_run, path, model="mige", *, n=375, values=(0.80, 0.85, 0.33), **kwargs):
    """A DreamBench run: ``n`` samples per subset (375 + 375 = the full 750), 25 per subject."""
    ids = {s: [f"{s}-{i}" for i in range(n)] for s in ("live", "object")}
    return make_run(
        path,
        "dreambench",
        model,
        {s: dict(zip(DREAM, values)) for s in ids},
        ids=ids,
        cluster=lambda i: i.split("-")[0] + subject_of(i),
        **kwargs,
    )


def verdict(path):
    (run,), _ = find_runs([path])
    return assess(run)


def test_a_complete_default_run_is_comparable(tmp_path, make_run):
    result = verdict(dreambench(make_run, tmp_path / "full"))
    assert result.comparable and result.reasons == [] and result.deviations == () and result.method == "MIGE"


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"expected": 750, "n": 28}, "incomplete: 56 of 750 samples"),
        ({"failed": 2}, "2 failed samples"),
        ({"n": 30}, "its copy of the benchmark has 60 samples, the published evaluation set 750"),
        ({"backbones": {"clip": "/home/me/clip"}}, "CLIP backbone a local checkpoint"),
        ({"presets": ("clip-l14",)}, "CLIP backbone openai/clip-vit-large-patch14"),
        ({"presets": ("dino-s8",)}, "DINO backbone facebook/dino-vits8"),
        ({"presets": ("single-reference",)}, "only the input photo as DreamBench reference (single-reference)"),
        ({"presets": ("x100-clamp-mean",)}, "scores x100 with the mean clamped at 0 (x100-clamp-mean)"),
        ({"presets": ("fp16",)}, "backbones in half precision (fp16)"),
        (
            {"bench_options": {"emu_caption_filter": "none"}},
            "Emu Edit identical-caption rows kept in every metric (caption filter none)",
        ),
    ],
)
def test_what_keeps_a_run_apart(tmp_path, make_run, kwargs, reason):
    result = verdict(dreambench(make_run, tmp_path / "run", "blip-diffusion", **kwargs))
    assert not result.comparable and result.published
    assert reason in result.reasons
    assert all("/home" not in r for r in result.reasons)


def test_a_metric_not_scored_everywhere_or_a_missing_run_json(tmp_path, make_run):
    path = dreambench(make_run, tmp_path / "run")
    summary = json.loads((path / "summary.json").read_text())
    summary["missing"], summary["complete"] = {"clip_t": 5}, False
    (path / "summary.json").write_text(json.dumps(summary))
    assert verdict(path).reasons == ["clip_t not scored on 5 samples"]
    (path / "run.json").unlink()
    assert verdict(path).reasons == ["run.json is missing, so its settings cannot be checked"]


def test_the_published_rows_own_conventions(tmp_path, make_run):
    """MIGE scored its own outputs as JPEG files and fed DreamBench subjects segmented on black: a MIGE run
    doing the same may be compared with the MIGE row; another model doing it may not."""
    assert ROW_CONVENTIONS[("MIGE", "emuedit")].options == {"output_storage": "jpeg75"}
    as_authors = ("jpeg75", "segmented", "mige-examples")
    mige = verdict(dreambench(make_run, tmp_path / "mige", "mige", presets=as_authors))
    assert mige.comparable and [d.allowed_by for d in mige.deviations] == ["MIGE"] * 3
    assert "outputs JPEG-compressed at quality 75 before scoring (jpeg75), as the published MIGE row" in [
        str(d) for d in mige.deviations
    ]
    other = verdict(dreambench(make_run, tmp_path / "other", "omnigen", presets=as_authors))
    assert other.method == "OmniGen*" and not other.comparable and len(other.reasons) == 3
    # the convention covers its own options only
    mixed = verdict(dreambench(make_run, tmp_path / "mixed", "mige", presets=("jpeg75", "single-reference")))
    assert mixed.reasons == ["only the input photo as DreamBench reference (single-reference)"]


def test_a_benchmark_without_published_rows(tmp_path, make_run):
    path = make_run(tmp_path / "custom", "my-bench", "mige", {"x": {"dino": 0.5}})
    result = verdict(path)
    assert not result.published and not result.comparable and result.reasons == []
    assert "my-bench" not in EVALUATION_SAMPLES


def test_marked_rows_are_never_bold_nor_differenced(tmp_path, make_run):
    """The issue's case: a 40-sample run with tiny local backbones beats every published value."""
    dreambench(
        make_run,
        tmp_path / "runs" / "partial",
        "mige",
        n=20,
        expected=750,
        values=(0.99, 0.99, 0.99),
        backbones={"clip": "/tmp/tiny-clip", "dino": "/tmp/tiny-dino"},
    )
    dreambench(make_run, tmp_path / "runs" / "full", "omnigen", values=(0.75, 0.70, 0.40))
    table = build_table("2", find_runs([tmp_path / "runs"])[0])
    rows = {r.label: r for r in table.rows}
    partial, full = rows["MIGE (run)"], rows["OmniGen* (run)"]
    assert partial.marked and not partial.best and partial.deltas == {}
    assert not full.marked and {c.metric for c in full.best} == {"dino", "clip_t"}  # 0.75 > 0.744, 0.40 > 0.329
    assert sorted(full.deltas.values()) == pytest.approx(sorted([0.75 - 0.711, 0.70 - 0.800, 0.40 - 0.312]))
    assert {c.metric for c in rows["KOSMOS-G"].best} == {"clip_i"}
    assert table.footnote == (
        "† Not comparable with the published rows, so neither bold nor differenced. MIGE (run): "
        "incomplete: 40 of 750 samples; DINO backbone a local checkpoint; CLIP backbone a local "
        "checkpoint."
    )
    assert "MIGE (run) on DreamBench: 40 of 750 samples, 0 failed" in table.caption
    assert "/tmp" not in table.caption + table.footnote


def test_rows_with_runs_of_two_benchmarks_are_judged_per_column(tmp_path, make_run, monkeypatch):
    monkeypatch.setitem(EVALUATION_SAMPLES, "emuedit", 2)
    edit = dict(zip(("dino", "clip_i", "clip_t", "clip_dir", "l1", "l2"), (0.9, 0.9, 0.4, 0.2, 0.01, 0.001)))
    make_run(tmp_path / "emuedit" / "mige", "emuedit", "mige", {"test": edit})
    make_run(tmp_path / "magicbrush" / "mige", "magicbrush", "mige", {"test": edit}, expected=1053)
    table = build_table("1", find_runs([tmp_path])[0])
    (row,) = [r for r in table.rows if r.label == "MIGE (run)"]
    assert row.marked and {c.bench for c in row.best} == {"emuedit"} and {c.bench for c in row.deltas} == {"emuedit"}
    assert (
        "MIGE (run) on MagicBrush: incomplete: 2 of 1,053 samples; its copy of the benchmark has 1,053 samples"
        not in table.footnote
    )  # the size check speaks only when the copy differs
    assert "MIGE (run) on MagicBrush: incomplete: 2 of 1,053 samples." in table.footnote


def test_describe_a_scoring_configuration():
    settings = {
        "metric": "clip_t",
        "outputs": {"output_storage": "jpeg75", "black_outputs": "keep"},
        "benchmark": {"name": "emuedit", "emu_caption_filter": "text"},
        "precision": "fp32",
        "scale": "cosine",
        "long_text": "truncate-eot",
        "models": {"clip": f"local@sha256:{'ab' * 32}|fp32"},
    }
    assert describe(settings) == (
        "CLIP backbone a local checkpoint (sha256:abababab, fp32); options fp32, cosine, "
        "truncate-eot, jpeg75, keep, emu caption filter text"
    )
    crops = {
        "metric": "subject_dino",
        "crops": {
            "procedure": "v1",
            "threshold": 0.3,
            "detector": "IDEA-Research/grounding-dino-base@0123456789abcdef|fp32",
            "sam": "facebook/sam-vit-huge@fedcba9876543210|fp32",
        },
    }
    assert describe(crops) == (
        "detector IDEA-Research/grounding-dino-base (0123456789ab, fp32); segmenter "
        "facebook/sam-vit-huge (fedcba987654, fp32); options box threshold 0.3"
    )
    assert describe({}) == "no settings"
