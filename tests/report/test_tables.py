"""Table assembly: matching runs to published rows, differences, best values, captions, layouts."""

from __future__ import annotations

import pytest

from mige_eval.report.published import EVALUATION_SAMPLES, match_method, published_values
from mige_eval.report.runs import find_runs
from mige_eval.report.tables import TABLES, build_table, tables_for

EDIT = ("dino", "clip_i", "clip_t", "clip_dir", "l1", "l2")


@pytest.fixture()
def small_sets(monkeypatch):
    """Evaluation sets the size of the tests' small runs, so a complete small run counts as the full set
    (the size check itself is tested in test_comparability.py)."""

    def shrink(**sizes: int) -> None:
        for bench, size in sizes.items():
            monkeypatch.setitem(EVALUATION_SAMPLES, bench, size)

    return shrink


def edit_values(*numbers: float) -> dict[str, dict[str, float]]:
    return {"test": dict(zip(EDIT, numbers))}


def row(table, label):
    (found,) = [r for r in table.rows if r.label == label]
    return found


def cell(table, label, bench, metric):
    (col,) = [c for c in table.spec.columns if c.bench == bench and c.metric == metric]
    return row(table, label), col


def test_the_shipped_csv_holds_every_published_number():
    values = published_values()
    assert len(values) == 279
    per_table = {t: {(v.method, v.benchmark, v.metric) for v in values if v.table == t} for t in TABLES}
    assert len(per_table["1"]) == 13 * 12 and len(per_table["2"]) == 9 * 3
    assert ("MIGE", "migebench", "subject_clip_i") in per_table["3b"]
    assert {v.metric for v in values if v.method == "I-O sim"} == {"dino", "clip_i", "clip_t"}


@pytest.mark.parametrize(
    "model, table, method",
    [
        ("copy-source", "3a", "I-O sim"),
        ("instructpix2pix", "1", "InstructPix2Pix"),
        ("magicbrush", "1", "MagicBrush"),
        ("omnigen", "1", "OmniGen"),
        ("omnigen", "2", "OmniGen*"),
        ("mige", "2", "MIGE"),
        ("paint-by-example", "3b", "PBE"),
        ("blip-diffusion", "2", "BLIP-Diffusion"),
        ("UltraEdit", "1", "UltraEdit"),
        ("ml_mgie", "1", "ml-MGIE"),
        ("my-model", "1", None),
        ("copy-source", "1", None),
    ],
)
def test_model_names_map_to_published_methods(model, table, method):
    methods = list(dict.fromkeys(v.method for v in published_values() if v.table == table))
    assert match_method(model, methods) == method


def test_run_rows_sit_beside_their_published_method_with_differences(tmp_path, make_run, small_sets):
    small_sets(emuedit=2, magicbrush=2)
    make_run(tmp_path / "emuedit" / "mige", "emuedit", "mige", edit_values(0.8404, 0.87, 0.3, 0.1, 0.07, 0.02))
    make_run(tmp_path / "magicbrush" / "mige", "magicbrush", "mige", edit_values(0.9, 0.9, 0.3, 0.1, 0.06, 0.01))
    make_run(tmp_path / "emuedit" / "new-model", "emuedit", "new-model", edit_values(0.5, 0.5, 0.5, 0.5, 0.5, 0.5))
    runs, notes = find_runs([tmp_path])
    assert notes == []
    table = build_table("1", runs)
    labels = [r.label for r in table.rows]
    assert labels.index("MIGE (run)") == labels.index("MIGE") + 1
    assert labels[-1] == "new-model (run)" and table.rows[-1].group == "runs"
    mige, col = cell(table, "MIGE (run)", "emuedit", "dino")
    assert mige.values[col] == pytest.approx(0.8404)
    assert mige.deltas[col] == pytest.approx(0.840 - 0.832)  # from the value as printed
    assert mige.group == "unified" and [r.bench for r in mige.runs] == ["emuedit", "magicbrush"]
    # best per column: higher is better, except L1/L2 where lower wins; ties at 3 decimals all bold
    best = {c.bench + "." + c.metric: [r.label for r in table.rows if c in r.best] for c in table.spec.columns}
    assert best["emuedit.dino"] == ["UltraEdit"]
    assert best["magicbrush.dino"] == ["MIGE (run)"]
    assert best["emuedit.clip_t"] == ["new-model (run)"]
    assert best["emuedit.l1"] == ["UltraEdit"] and best["magicbrush.l2"] == ["UltraEdit"]
    assert best["magicbrush.clip_dir"] == ["MagicBrush", "ACE"]
    assert "new-model (run)" not in best["emuedit.l2"]
    # an unmatched run has no differences; the published rows keep the paper's order
    assert row(table, "new-model (run)").deltas == {}
    assert labels[:3] == ["InstructPix2Pix", "MagicBrush", "UltraEdit"]


def test_caption_states_sample_counts_and_deviations_in_words(tmp_path, make_run):
    make_run(
        tmp_path / "a",
        "dreambench",
        "mige",
        {"live": {"dino": 0.7, "clip_i": 0.8, "clip_t": 0.3}, "object": {"dino": 0.7, "clip_i": 0.8, "clip_t": 0.3}},
        n=3,
        failed=1,
        presets=("clip-l14", "single-reference"),
        expected=750,
    )
    make_run(
        tmp_path / "b",
        "dreambench",
        "blip-diffusion",
        {"object": {"dino": 0.6, "clip_i": 0.7, "clip_t": 0.2}},
        bench_options={"emu_caption_filter": "identical"},
        backbones={"clip": "/models/my-clip"},
    )
    table = build_table("2", find_runs([tmp_path])[0])
    assert "MIGE (run) on DreamBench: 6 of 750 samples, 1 failed" in table.caption
    assert "BLIP-Diffusion (run) on DreamBench: 2 of 2 samples, 0 failed" in table.caption
    assert (
        "MIGE (run) on DreamBench: only the input photo as DreamBench reference (single-reference), "
        "CLIP backbone openai/clip-vit-large-patch14" in table.caption
    )
    assert (
        "BLIP-Diffusion (run) on DreamBench: Emu Edit identical-caption rows left out of every metric "
        "(caption filter identical), CLIP backbone a local checkpoint" in table.caption
    )
    # what a paper can print: no machine path, no file name of this project's docs
    assert "/models" not in table.caption and ".md" not in table.caption and "sha256" not in table.caption
    assert "the other runs use them" not in table.caption  # both runs deviate
    plain = make_run(tmp_path / "plain" / "omnigen", "dreambench", "omnigen", {"live": {"dino": 0.5}})
    assert (
        "All runs use the benchmark's default backbones and presets." in build_table("2", find_runs([plain])[0]).caption
    )
    with_plain = build_table("2", find_runs([tmp_path])[0])
    assert "CLIP backbone openai/clip-vit-large-patch14; the other runs use them." in with_plain.caption
    empty = build_table("2", [])
    assert "No run of this table's benchmarks was found." in empty.caption and empty.footnote == ""
    assert [r.kind for r in empty.rows] == ["published"] * 9


def test_two_runs_of_one_model_are_both_shown_labelled_by_directory(tmp_path, make_run, small_sets):
    small_sets(migebench=4)
    values = {
        "add": {"dino": 0.8, "clip_i": 0.9, "clip_t": 0.3, "subject_dino": 0.6, "subject_clip_i": 0.8},
        "replace": {"dino": 0.85, "clip_i": 0.95, "clip_t": 0.31, "subject_dino": 0.65, "subject_clip_i": 0.85},
    }
    make_run(tmp_path / "seed0" / "mige", "migebench", "mige", values)
    make_run(tmp_path / "seed1" / "mige", "migebench", "mige", values)
    make_run(tmp_path / "seed0" / "copy-source", "migebench", "copy-source", values)
    runs, _ = find_runs([tmp_path])
    table = build_table("3b", runs)
    labels = [r.label for r in table.rows]
    assert "MIGE (run seed0/mige)" in labels and "MIGE (run seed1/mige)" in labels
    assert labels.index("I-O sim (run)") == labels.index("I-O sim") + 1
    run_row, col = cell(table, "MIGE (run seed1/mige)", "migebench", "subject_clip_i")
    assert col.subset == "replace" and run_row.values[col] == pytest.approx(0.85)
    assert run_row.deltas[col] == pytest.approx(0.85 - 0.838)
    # the reference rows (input copied) never count as best
    io_row, dino = cell(table, "I-O sim (run)", "migebench", "dino")
    assert io_row.values[dino] == pytest.approx(0.85) and not io_row.best
    assert tables_for(runs) == ["3a", "3b"]


def test_no_published_and_other_scales(tmp_path, make_run, small_sets):
    small_sets(dreambench=2)
    make_run(
        tmp_path / "x100",
        "dreambench",
        "mige",
        {"object": {"dino": 74.0, "clip_i": 83.0, "clip_t": 29.0}},
        presets=("x100-clamp-mean",),
    )
    make_run(tmp_path / "plain", "dreambench", "omnigen", {"object": {"dino": 0.5, "clip_i": 0.6, "clip_t": 0.2}})
    runs, _ = find_runs([tmp_path])
    table = build_table("2", runs)
    x100 = row(table, "MIGE (run)")
    assert x100.deltas == {} and x100.best == set() and x100.marked
    assert "MIGE (run): scores x100 with the mean clamped at 0 (x100-clamp-mean)" in table.footnote
    assert row(table, "MIGE").best  # the published MIGE DINO is still the best comparable value
    bare = build_table("2", runs, published=False)
    assert [r.label for r in bare.rows] == ["OmniGen* (run)", "MIGE (run)"]
    assert all(r.deltas == {} for r in bare.rows) and "Published rows" not in bare.caption
    assert {c.metric for c in row(bare, "OmniGen* (run)").best} == {"dino", "clip_i", "clip_t"}
    with pytest.raises(ValueError, match="unknown table '4'"):
        build_table("4", runs)
