"""Emu Edit loader on tiny copies of the published test split (hub parquet shards and save_to_disk),
through the loader, ``mige-eval run`` / ``score`` / ``verify``, and the hub path when offline.

The rows embed real DreamBench JPEGs (tests/emuedit_data.py); expected values come from the rows as
written and from the independent feature reference (tests/reference_features.py).
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from emuedit_data import default_rows, features, row, write_generations, write_hub_snapshot, write_save_to_disk
from mige_eval.benchmarks import fetch
from mige_eval.benchmarks.base import DataError
from mige_eval.benchmarks.emuedit import EmuEdit
from mige_eval.benchmarks.hubsplit import SplitTable
from mige_eval.cli import app
from mige_eval.types import BrokenSample

pq = pytest.importorskip("pyarrow.parquet", reason="reading hub datasets needs pyarrow (mige-eval[data])")
pytest.importorskip(
    "datasets",
    reason="the tiny Emu Edit copies are written with the datasets library (mige-eval[data]), as the hub's files were",
)

IDENTICAL = 5  # the row of emuedit_data.DEFAULT_ROWS whose input caption is its output caption
ALL_METRICS = "l1,l2,clip_i,dino,clip_t,clip_dir"


@pytest.fixture(scope="module")
def rows(dreambench_root) -> list[dict]:
    return default_rows(dreambench_root)


@pytest.fixture(scope="module")
def hub(tmp_path_factory, rows) -> Path:
    root = tmp_path_factory.mktemp("emu-hub")
    write_hub_snapshot(root, rows)
    return root


@pytest.fixture(scope="module")
def saved(tmp_path_factory, rows) -> Path:
    return write_save_to_disk(tmp_path_factory.mktemp("emu-saved"), rows)


def load(root: Path, **options) -> list:
    return list(EmuEdit(EmuEdit.builtin_card(), data=root, options=options).samples())


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def records(run_dir: Path) -> dict[str, dict]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def rgb(jpeg: bytes) -> Image.Image:
    with Image.open(io.BytesIO(jpeg)) as img:
        return img.convert("RGB")


@pytest.fixture()
def backbones(tmp_path, tiny_clip, tiny_dino) -> list[str]:
    return [
        "--clip-model",
        tiny_clip,
        "--dino-model",
        tiny_dino,
        "--device",
        "cpu",
        "--cache-dir",
        tmp_path / "cache",
        "--quiet",
    ]


# --- loading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["hub", "saved"])
def test_both_layouts_map_rows_to_samples(layout, request, rows):
    root = request.getfixturevalue(layout)
    samples = load(root)
    assert [s.id for s in samples] == [str(r["idx"]) for r in rows]
    for sample, r in zip(samples, rows):
        assert (sample.task, sample.subset, sample.instruction, sample.prompt) == (
            "edit",
            r["task"],
            r["instruction"],
            r["instruction"],
        )
        assert (sample.caption, sample.input_caption, sample.output_caption) == (
            r["output_caption"],
            r["input_caption"],
            r["output_caption"],
        )
        assert sample.references == (sample.source,) and sample.meta == {
            "idx": r["idx"],
            "identical_captions": r["input_caption"] == r["output_caption"],
        }
    labels = [s.source.label for s in samples]
    if layout == "hub":  # six rows per shard, each located within its file
        shards = sorted(f"data/{p.name}" for p in (root / "data").glob("*.parquet"))
        assert labels[0] == f"{shards[0]}#row 0/image" and labels[7] == f"{shards[1]}#row 1/image"
    else:
        assert labels[7] == "test/data-00000-of-00001.arrow#row 7/image"
    # The embedded JPEG is the source, decoded from the dataset bytes, never re-encoded.
    for i in (0, 7, 11):
        assert np.array_equal(np.asarray(samples[i].source.load()), np.asarray(rgb(rows[i]["image"]["bytes"])))


def test_labels_stay_relative_when_data_is_a_relative_path(saved, monkeypatch):
    monkeypatch.chdir(saved.parent)
    assert load(Path(saved.name))[7].source.label == "test/data-00000-of-00001.arrow#row 7/image"


@pytest.mark.parametrize("layout", ["hub", "saved"])
def test_listing_samples_reads_no_image_bytes(layout, request, monkeypatch):
    root = request.getfixturevalue(layout)
    calls: list[tuple[int, str]] = []
    original = SplitTable._image_bytes
    monkeypatch.setattr(SplitTable, "_image_bytes", lambda self, r, c: calls.append((r, c)) or original(self, r, c))
    columns_read: list[list[str]] = []
    for method in ("read", "read_row_group"):
        wrapped = getattr(pq.ParquetFile, method)

        def spy(self, *args, _wrapped=wrapped, columns=None, **kwargs):
            columns_read.append(list(columns or ["<all>"]))
            return _wrapped(self, *args, columns=columns, **kwargs)

        monkeypatch.setattr(pq.ParquetFile, method, spy)

    samples = load(root)
    assert len(samples) == 12 and calls == []
    assert bool(columns_read) == (layout == "hub")  # parquet: the index columns were read, and only they
    assert all("image" not in cols and "<all>" not in cols for cols in columns_read)
    samples[9].references[0].load()
    assert calls == [(9, "image")]
    if layout == "hub":
        assert columns_read[-1] == ["image"]  # one row group of the image column, on demand


def test_caption_filter_values_exclusions_and_notes(hub):
    """The filter decides which metrics a row with identical captions counts in, never which rows exist."""
    expected = {
        "text": {"clip_t": "emu_identical_captions", "clip_dir": "emu_identical_captions"},
        "none": {},
        "identical": {"*": "emu_identical_captions"},
    }
    for name, exclusions in expected.items():
        bench = EmuEdit(EmuEdit.builtin_card(), data=hub, options={"emu_caption_filter": name})
        samples = list(bench.samples())
        assert [s.id for s in samples] == [str(i) for i in range(12)]
        assert [bench.exclusions(s) for s in samples] == [exclusions if i == IDENTICAL else {} for i in range(12)]
        assert bench.scoring_settings() == {"emu_caption_filter": name}
    default = EmuEdit(EmuEdit.builtin_card(), data=hub)
    list(default.samples())
    assert default.caption_filter == "text"
    assert default.notes() == [
        "emuedit: 1 of 12 rows have input_caption equal to output_caption; "
        "--emu-caption-filter text: clip_t and clip_dir leave them out, the other metrics "
        "keep them"
    ]
    with pytest.raises(DataError, match=r"--emu-caption-filter 'same' is not one of text, none, identical"):
        EmuEdit(EmuEdit.builtin_card(), data=hub, options={"emu_caption_filter": "same"})


# --- end to end --------------------------------------------------------------------------------------


def test_run_copy_source_scores_every_metric(tmp_path, hub, rows, backbones, independent, kit):
    out = tmp_path / "run"
    result = cli(
        "run",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--model",
        "copy-source",
        "--metrics",
        ALL_METRICS,
        "--out",
        out,
        *backbones,
    )
    assert result.exit_code == 0, result.output
    by_id = records(out)
    assert list(by_id) == [str(i) for i in range(12)]
    for r in by_id.values():
        m = r["metrics"]
        assert r["error"] is None and m["l1"] == 0.0 and m["l2"] == 0.0
        assert m["clip_i"] == pytest.approx(1.0, abs=1e-5) and m["dino"] == pytest.approx(1.0, abs=1e-5)
        # The output is the source: the image direction is zero, so clip_dir is undefined (docs/metrics.md).
        assert m["clip_dir"] is None
    assert all("clip_dir_identical_images" in r["flags"] for i, r in by_id.items() if i != str(IDENTICAL))
    # the MIGE authors' rule (default --emu-caption-filter text): no clip_t or clip_dir on the identical row
    assert by_id[str(IDENTICAL)]["flags"] == ["emu_identical_captions"]
    assert by_id[str(IDENTICAL)]["metrics"]["clip_t"] is None and by_id[str(IDENTICAL)]["metrics"]["l1"] == 0.0
    assert by_id["4"]["references"] == [by_id["4"]["references"][0]] and "#row 4/image" in by_id["4"]["references"][0]
    assert by_id["4"]["caption"] == rows[4]["output_caption"]

    source = rgb(rows[2]["image"]["bytes"])  # copy-source: the output is the source image
    clip_t = kit.cos(independent.clip_image(source), independent.clip_text(rows[2]["output_caption"]))
    assert by_id["2"]["metrics"]["clip_t"] == pytest.approx(clip_t, abs=1e-5)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 12 and summary["n_failed"] == 0 and summary["counts"]["clip_dir"] == 0
    assert summary["counts"]["clip_t"] == 11 and summary["counts"]["dino"] == 12
    assert summary["flags"]["emu_identical_captions"] == {"total": 1, "subsets": {"background": 1}}
    assert summary["subsets"]["background"]["n"] == 3 and set(summary["subsets"]) == {
        "add",
        "background",
        "color",
        "remove",
        "style",
    }
    notes = " | ".join(summary["notes"])
    assert "emuedit: 1 of 12 rows have input_caption equal to output_caption; --emu-caption-filter text" in notes
    assert "emu_identical_captions: 1 samples (background 1)" in notes


def test_score_edited_outputs_gives_clip_dir_except_on_identical_captions(
    tmp_path, hub, rows, backbones, independent, kit
):
    folder = tmp_path / "outputs"  # each "edit" is the next row's photo
    folder.mkdir()
    outputs = {i: rgb(rows[(i + 1) % 12]["image"]["bytes"]) for i in range(12)}
    for i, img in outputs.items():
        img.save(folder / f"{i}.png")
    out = tmp_path / "scored"
    result = cli(
        "score",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--images",
        folder,
        "--metrics",
        "clip_dir,l1",
        "--out",
        out,
        *backbones,
    )
    assert result.exit_code == 0, result.output
    by_id = records(out)
    assert by_id[str(IDENTICAL)]["metrics"]["clip_dir"] is None
    assert by_id[str(IDENTICAL)]["flags"] == ["emu_identical_captions"]
    assert all(by_id[str(i)]["metrics"]["clip_dir"] is not None for i in range(12) if i != IDENTICAL)
    # under --emu-caption-filter none the row is scored, and clip_dir is undefined by its token ids
    assert (
        cli(
            "score",
            "--bench",
            "emuedit",
            "--data",
            hub,
            "--images",
            folder,
            "--metrics",
            "clip_dir",
            "--emu-caption-filter",
            "none",
            "--out",
            tmp_path / "none",
            *backbones,
        ).exit_code
        == 0
    )
    assert records(tmp_path / "none")[str(IDENTICAL)]["flags"] == ["clip_dir_identical_captions"]

    def unit(v):
        return np.asarray(v, np.float64) / np.linalg.norm(v)

    i = 3
    src, dst = rgb(rows[i]["image"]["bytes"]), outputs[i]
    d_image = unit(independent.clip_image(dst)) - unit(independent.clip_image(src))
    d_text = unit(independent.clip_text(rows[i]["output_caption"])) - unit(
        independent.clip_text(rows[i]["input_caption"])
    )
    assert by_id[str(i)]["metrics"]["clip_dir"] == pytest.approx(kit.cos(d_image, d_text), abs=1e-5)
    # l1 against the source: the output resized to the source's size (bicubic, a no-op when equal).
    ref = np.asarray(src, np.float64) / 255
    resized = np.asarray(dst.resize(src.size, Image.Resampling.BICUBIC), np.float64) / 255
    assert by_id[str(i)]["metrics"]["l1"] == pytest.approx(np.abs(resized - ref).mean(), abs=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["clip_dir"] == 11
    assert "clip_dir: null for 1 samples, excluded from the mean" in summary["notes"]


def expected_l1(output: bytes, source: bytes) -> float:
    """l1 against the source from the published rule: output resized to the source's size (bicubic)."""
    src = rgb(source)
    out = rgb(output).resize(src.size, Image.Resampling.BICUBIC)
    return float(np.abs(np.asarray(out, np.float64) / 255 - np.asarray(src, np.float64) / 255).mean())


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def test_mige_idx_jpg_outputs_are_detected_stored_as_they_are_and_scored(tmp_path, hub, rows):
    folder = tmp_path / "example_edit_results"  # what MIGE_edit_infer.py writes: <save_root>/<idx>.jpg
    folder.mkdir()
    jpegs = {i: rows[(i + 1) % 12]["image"]["bytes"] for i in range(12)}  # real DreamBench JPEGs
    for i, data in jpegs.items():
        (folder / f"{i}.jpg").write_bytes(data)
    out = tmp_path / "scored"
    result = cli(
        "score", "--bench", "emuedit", "--data", hub, "--images", folder, "--metrics", "l1", "--out", out, "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert "layout mige (detected): <idx>.png/.jpg/.jpeg/.webp (e.g. 0.jpg); outputs found for 12 of" in flat(result)
    by_id = records(out)
    for i in range(12):
        assert by_id[str(i)]["image"] == f"images/{i}.jpg"
        assert (out / "images" / f"{i}.jpg").read_bytes() == jpegs[i]  # no re-encoding
        assert by_id[str(i)]["metrics"]["l1"] == pytest.approx(
            expected_l1(jpegs[i], rows[i]["image"]["bytes"]), abs=1e-9
        )
    outputs = json.loads((out / "run.json").read_text())["outputs"]
    assert (outputs["layout"], outputs["detected"], outputs["matched"], outputs["unmatched"]) == ("auto", "mige", 12, 0)


def test_jpeg75_scores_the_round_trip_of_an_output_stored_as_it_was_given(tmp_path, hub, rows):
    folder = tmp_path / "outputs"
    folder.mkdir()
    pngs = {i: encode(rgb(rows[(i + 1) % 12]["image"]["bytes"]).resize((64, 48)), "PNG") for i in range(3)}
    for i, data in pngs.items():
        (folder / f"{i}.png").write_bytes(data)
    out = tmp_path / "scored"
    result = cli(
        "score",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--images",
        folder,
        "--metrics",
        "l1",
        "--limit",
        3,
        "--preset",
        "jpeg75",
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    by_id = records(out)
    for i, data in pngs.items():
        assert (out / "images" / f"{i}.png").read_bytes() == data  # stored as given
        round_trip = encode(rgb(data), "JPEG", quality=75)  # what MIGE's save_image(.jpg) would have kept
        assert by_id[str(i)]["metrics"]["l1"] == pytest.approx(
            expected_l1(round_trip, rows[i]["image"]["bytes"]), abs=1e-9
        )


def test_generations_dataset_scores_one_run_per_model_from_its_validation_split(tmp_path, hub, rows):
    small = {i: rgb(rows[(i + 2) % 12]["image"]["bytes"]).resize((48, 40)) for i in range(12)}
    outputs = {
        "emu-edit": {i: encode(img, "PNG") for i, img in small.items()},
        "other/model": {i: encode(img, "JPEG", quality=80) for i, img in small.items()},
    }
    root = tmp_path / "emu_edit_test_set_generations"
    wrong = [dict(r, instruction="make it night") if r["idx"] == 3 else r for r in rows]
    write_generations(root, rows, outputs, shards=3)
    out = tmp_path / "runs"
    result = cli(
        "score", "--bench", "emuedit", "--data", hub, "--images", root, "--metrics", "l1", "--out", out, "--quiet"
    )
    assert result.exit_code == 0, result.output
    assert flat(result).count("layout emu-generations (detected)") == 2
    for model, label in (("emu-edit", "emu-edit"), ("other/model", "other_model-")):
        run_dir = next(p for p in out.iterdir() if p.name.startswith(label))
        by_id = records(run_dir)
        suffix = ".png" if model == "emu-edit" else ".jpg"
        assert [by_id[str(i)]["image"] for i in range(12)] == [f"images/{i}{suffix}" for i in range(12)]
        for i, data in outputs[model].items():
            assert (run_dir / "images" / f"{i}{suffix}").read_bytes() == data  # byte for byte, either format
            assert by_id[str(i)]["metrics"]["l1"] == pytest.approx(
                expected_l1(data, rows[i]["image"]["bytes"]), abs=1e-9
            )
        described = json.loads((run_dir / "run.json").read_text())
        assert (
            described["generation"]["adapter_config"]["select"] == model
            and described["outputs"]["detected"] == "emu-generations"
        )
        assert described["outputs"]["matched"] == 12 and described["outputs"]["unmatched"] == 0

    result = cli(
        "score",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--images",
        root,
        "--name",
        "emu",
        "--out",
        tmp_path / "named",
        "--quiet",
    )
    assert result.exit_code == 2 and "--name names one run, but" in flat(result) and "--select MODEL" in flat(result)

    # --select scores one model into --out itself; a row made for another instruction fails its sample only.
    other = tmp_path / "other-gen"
    write_generations(other, wrong, {"x": outputs["emu-edit"]})
    result = cli(
        "score",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--images",
        other,
        "--select",
        "x",
        "--metrics",
        "l1",
        "--out",
        tmp_path / "x",
        "--quiet",
    )
    assert result.exit_code == 1, result.output
    by_id = records(tmp_path / "x")
    assert [i for i, r in by_id.items() if r["error"]] == ["3"]
    assert "was made for the instruction 'make it night', but sample 3 asks" in by_id["3"]["error"]
    result = cli(
        "score",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--images",
        other,
        "--select",
        "y",
        "--metrics",
        "l1",
        "--out",
        tmp_path / "y",
        "--quiet",
    )
    assert result.exit_code == 2 and "no row has model 'y'; its models are: x" in flat(result)
    assert not (tmp_path / "y").exists()


def test_caption_filter_identical_leaves_the_row_out_of_every_metric_and_says_so(tmp_path, hub):
    out = tmp_path / "filtered"
    result = cli(
        "run",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--model",
        "copy-source",
        "--metrics",
        "l1",
        "--emu-caption-filter",
        "identical",
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    by_id = records(out)
    assert list(by_id) == [str(i) for i in range(12)], "the row keeps its image and record"
    assert by_id[str(IDENTICAL)]["metrics"] == {"l1": None} and by_id[str(IDENTICAL)]["flags"] == [
        "emu_identical_captions"
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 12 and summary["counts"]["l1"] == 11
    assert (
        "emuedit: 1 of 12 rows have input_caption equal to output_caption; --emu-caption-filter identical: "
        "no metric counts them"
    ) in summary["notes"]
    # the filter is a scoring setting: the same images scored under another filter are kept apart
    again = cli(
        "run", "--bench", "emuedit", "--data", hub, "--model", "copy-source", "--metrics", "l1", "--out", out, "--quiet"
    )
    assert again.exit_code == 0 and "generated 0" in again.output
    assert records(out)[str(IDENTICAL)]["metrics"] == {"l1": 0.0}
    assert len(records(out)[str(IDENTICAL)]["scores"]) == 2


def test_bad_caption_filter_is_refused(tmp_path, hub):
    result = cli(
        "run",
        "--bench",
        "emuedit",
        "--data",
        hub,
        "--model",
        "copy-source",
        "--metrics",
        "none",
        "--emu-caption-filter",
        "same",
        "--out",
        tmp_path / "r",
        "--quiet",
    )
    assert result.exit_code == 2
    assert "emuedit: --emu-caption-filter 'same' is not one of text, none, identical" in flat(result)
    assert not (tmp_path / "r" / "samples.jsonl").exists()


# --- bad data: one sample fails, naming where, and every other sample is still scored --------------


def run_broken(tmp_path: Path, rows: list[dict], **layout) -> tuple[dict[str, dict], list[str], object]:
    shards = write_hub_snapshot(tmp_path / "data", rows, **layout)
    out = tmp_path / "run"
    result = cli(
        "run",
        "--bench",
        "emuedit",
        "--data",
        tmp_path / "data",
        "--model",
        "copy-source",
        "--metrics",
        "l1,l2",
        "--out",
        out,
        "--quiet",
    )
    assert result.exit_code == 1, result.output  # failed samples, finished run
    by_id = records(out)
    failed = [i for i, r in by_id.items() if r["error"]]
    assert len(by_id) == 12 and len(failed) == 1
    assert all(r["metrics"] == {"l1": 0.0, "l2": 0.0} for i, r in by_id.items() if i not in failed)
    assert (out / "images").is_dir() and len(list((out / "images").glob("*.png"))) == 11
    return by_id, [f"data/{p.name}" for p in shards], result


def test_idx_of_the_wrong_type(tmp_path, rows):
    bad = [dict(r) for r in rows]
    bad[11]["idx"] = "11"  # a last shard written with a string idx column
    by_id, shards, _ = run_broken(tmp_path, bad, sizes=(11, 1), shard_features={1: features(idx_type="string")})
    assert by_id["row11"]["error"] == f"{shards[1]}#row 0, field 'idx': expected an integer, got str '11'"
    assert by_id["row11"]["subset"] == rows[11]["task"]


def test_empty_instruction(tmp_path, rows):
    bad = [dict(r) for r in rows]
    bad[3]["instruction"] = "  "
    by_id, shards, _ = run_broken(tmp_path, bad)
    assert by_id["3"]["error"] == f"{shards[0]}#row 3, field 'instruction': empty"


def test_image_without_bytes_fails_at_decode(tmp_path, rows):
    bad = [dict(r) for r in rows]
    r = rows[8]
    bad[8] = row(
        8,
        None,
        task=r["task"],
        instruction=r["instruction"],
        input_caption=r["input_caption"],
        output_caption=r["output_caption"],
        path="8.jpg",
    )
    by_id, shards, _ = run_broken(tmp_path, bad)
    error = by_id["8"]["error"]
    assert error.startswith(f"cannot read image {shards[1]}#row 2/image: no embedded image bytes")
    assert "'path': '8.jpg'" in error


def test_repeated_idx(tmp_path, rows):
    bad = [dict(r) for r in rows]
    bad[9]["idx"] = 4
    by_id, shards, _ = run_broken(tmp_path, bad)
    assert by_id["row9"]["error"] == (
        f"{shards[1]}#row 3, field 'idx': 4 repeats {shards[0]}#row 4; sample ids must be unique"
    )
    assert by_id["4"]["error"] is None


def test_broken_row_keeps_its_id_so_a_later_repeat_cannot_collide(tmp_path, rows):
    bad = [dict(r) for r in rows]
    bad[2]["instruction"], bad[10]["idx"] = "", 2
    write_hub_snapshot(tmp_path, bad)
    samples = {s.id: s for s in load(tmp_path)}
    assert isinstance(samples["2"], BrokenSample) and "field 'instruction': empty" in samples["2"].error
    assert isinstance(samples["row10"], BrokenSample) and "field 'idx': 2 repeats" in samples["row10"].error


def test_folder_without_a_split(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "validation-00000-of-00001-0123456789abcdef.parquet").write_bytes(b"")
    result = cli(
        "run",
        "--bench",
        "emuedit",
        "--data",
        tmp_path,
        "--model",
        "copy-source",
        "--metrics",
        "none",
        "--out",
        tmp_path / "r",
        "--quiet",
    )
    assert result.exit_code == 2
    assert (
        f"emuedit: no 'test' split under {tmp_path}: expected a hub snapshot "
        "(data/test-00000-of-0000N-<hash>.parquet ...) or datasets.save_to_disk output "
        "(test/state.json with data-*.arrow files)"
    ) in flat(result)


def test_shard_missing_a_column(tmp_path, rows):
    shards = write_hub_snapshot(tmp_path, rows, shard_features={1: features(drop=["output_caption"])})
    with pytest.raises(DataError) as info:
        load(tmp_path)
    assert str(info.value).startswith(
        f"emuedit: data/{shards[1].name} lacks the column(s) output_caption; "
        "it has instruction, image, task, split, idx, hash, input_caption"
    )


def test_missing_shard(tmp_path, rows):
    shards = write_hub_snapshot(tmp_path, rows, sizes=(4, 4, 4))
    shards[1].unlink()
    with pytest.raises(DataError) as info:
        load(tmp_path)
    message = str(info.value)
    assert "are not one complete set" in message and "missing 00001-of-00003" in message
    assert shards[0].name in message and shards[2].name in message


def spoil_page(shard: Path, group: int, column: str) -> None:
    """Overwrite the start of one column chunk's first page header: pyarrow cannot read that chunk."""
    meta = pq.ParquetFile(shard).metadata.row_group(group)
    chunk = next(meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column)
    data = bytearray(shard.read_bytes())
    data[chunk.data_page_offset : chunk.data_page_offset + 8] = b"\xff" * 8
    shard.write_bytes(bytes(data))


def test_corrupt_pages_name_the_file(tmp_path, rows):
    shards = write_hub_snapshot(tmp_path / "index", rows)
    spoil_page(shards[0], 0, "idx")
    with pytest.raises(DataError) as info:
        load(tmp_path / "index")
    assert str(info.value).startswith(
        f"emuedit: data/{shards[0].name}: cannot read the column(s) instruction, "
        "task, idx, input_caption, output_caption: "
    )

    shards = write_hub_snapshot(tmp_path / "images", rows)
    spoil_page(shards[1], 1, "image.bytes")  # rows 4-5 of the second shard: samples 10 and 11
    samples = load(tmp_path / "images")
    samples[9].source.load()
    with pytest.raises(ValueError) as info:
        samples[10].source.load()
    assert str(info.value).startswith(
        f"cannot read image data/{shards[1].name}#row 4/image: cannot read row group 1 of the 'image' column: "
    )


# --- verify -----------------------------------------------------------------------------------------


def tiny_card():
    card = EmuEdit.builtin_card()
    return dataclasses.replace(
        card,
        expected={"rows": 12, "identical_captions": 1},
        extra={**card.extra, "task_counts": {"add": 3, "background": 3, "color": 2, "remove": 2, "style": 2}},
    )


def test_verify_counts_against_the_card(hub, monkeypatch, tmp_path, rows):
    result = cli("verify", "--bench", "emuedit", "--data", hub)
    assert result.exit_code == 1
    text = flat(result)
    assert "problem: emuedit: rows is 12, the card expects 3589" in text
    assert "problem: emuedit: identical_captions is 1, the card expects 690" in text
    assert "problem: emuedit: task add is 3, the card expects 533" in text
    assert "problem: emuedit: task text is 0, the card expects 534" in text

    card = tiny_card()
    monkeypatch.setattr(EmuEdit, "builtin_card", classmethod(lambda cls: card))
    result = cli("verify", "--bench", "emuedit", "--data", hub)
    assert result.exit_code == 0 and result.output.strip() == "emuedit: OK"

    copy = tmp_path / "copy"
    shards = write_hub_snapshot(copy, rows)
    fetch.write_manifest(copy, card.source)
    assert cli("verify", "--bench", "emuedit", "--data", copy).output.strip() == "emuedit: OK"
    # Flip one byte in the middle of shard 0's image column: the index still loads, the checksum does not match.
    chunk = pq.ParquetFile(shards[0]).metadata.row_group(0).column(1)
    data = bytearray(shards[0].read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size // 2] ^= 0xFF
    shards[0].write_bytes(bytes(data))
    result = cli("verify", "--bench", "emuedit", "--data", copy)
    assert result.exit_code == 1
    assert f"problem: data/{shards[0].name}: sha256 differs from the manifest (file changed or corrupt)" in flat(result)
    assert "1 problem(s)" in result.output


# --- the hub path -------------------------------------------------------------------------------------


def test_offline_without_data_says_how_to_get_it(tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("MIGE_EVAL_DATA", str(tmp_path / "mige-data"))
    # huggingface_hub reads these variables once, at import; the suite has imported it already.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    result = cli(
        "run", "--bench", "emuedit", "--model", "copy-source", "--metrics", "none", "--out", tmp_path / "r", "--quiet"
    )
    assert result.exit_code == 2
    text = flat(result)
    assert "emuedit: cannot get the dataset facebook/emu_edit_test_set at revision b31936a" in text
    assert "Run `mige-eval download --bench emuedit` once while online" in text
    assert "or pass --data DIR with a local copy" in text
