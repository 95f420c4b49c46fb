"""MIGEBench loader on the published layout (``EurekaTian/MIGEBench``) and copy-source's I-O similarity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from layouts import write_migebench
from mige_eval.benchmarks.base import DataError
from mige_eval.benchmarks.migebench import MIGEBench
from mige_eval.cli import app
from mige_eval.presets import Presets
from mige_eval.types import BrokenSample

RECORDS = [
    ("add", 21, "a signboard", (96, 64)),
    ("add", 7, "a dog", (64, 80)),
    ("replace", 20, "a teapot", (80, 80)),
    ("replace", 3, "a vase", (72, 64)),
]
PHOTO = {"source": "dog", "target": "cat", "mask": "backpack", "entity_black": "teapot", "entity_white": "vase"}


@pytest.fixture()
def data(tmp_path, dreambench_root) -> Path:
    """The published layout over real photos: each file a different DreamBench photo at the record's size."""

    def image(kind: str, n: int, size: tuple[int, int]) -> Image.Image:
        with Image.open(dreambench_root / PHOTO[kind] / f"0{n}.jpg") as img:
            return img.convert("RGB").resize(size, Image.Resampling.BICUBIC)

    return write_migebench(tmp_path / "MIGEBench", RECORDS, image)


def load(root: Path, *presets: str) -> list:
    return list(MIGEBench(MIGEBench.builtin_card(), data=root, presets=Presets.from_names(presets)).samples())


def edit_rows(root: Path, subset: str, change) -> None:
    path = root / f"{subset}_bench.json"
    rows = json.loads(path.read_text())
    change(rows[0], root)
    path.write_text(json.dumps(rows))


def records(run_dir: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}


def test_records_map_to_samples_with_the_entity_picked_by_file_name(data):
    samples = {s.id: s for s in load(data)}
    assert sorted(samples) == ["add-21", "add-7", "replace-20", "replace-3"]
    add, replace = samples["add-21"], samples["replace-20"]
    assert (add.task, add.subset, replace.task) == ("subject_add", "add", "subject_replace")
    assert add.instruction == "add <imagehere> to <imagehere>" and add.prompt == "add a signboard"
    assert [r.label for r in add.instruction_images] == [
        "add/add_entity/21_entity_black.jpg",
        "add/add_source/21_source.jpg",
    ]
    assert [r.label for r in replace.instruction_images] == [
        "replace/replace_source/20_source.jpg",
        "replace/replace_entity/20_entity_black.jpg",
    ]
    assert add.subject_photo.label == "add/add_entity/21_entity_black.jpg" and add.meta["subject_index"] == 0
    assert replace.subject_photo.label.endswith("20_entity_black.jpg") and replace.meta["subject_index"] == 1
    assert (add.source.label, add.mask.label, add.references[0].label) == (
        "add/add_source/21_source.jpg",
        "add/add_mask/21_mask.jpg",
        "add/add_target/21_target.jpg",
    )
    assert (add.caption, add.object) == ("a photo with a signboard", "a signboard")
    white = {s.id: s for s in load(data, "entity-white")}
    assert white["replace-20"].subject_photo.label == "replace/replace_entity/20_entity_white.jpg"


def test_paths_already_under_the_root_and_blank_objects_are_accepted(data):
    def rewrite(row, root):
        row["image"] = str(root / row["image"].removeprefix("/path/to/MIGEBench/"))
        row["object"] = row["entity_dino"] = "  "

    edit_rows(data, "add", rewrite)
    sample = {s.id: s for s in load(data)}["add-21"]
    assert sample.references[0].label == "add/add_target/21_target.jpg"
    assert sample.object is None  # the subject metrics give null with the flag no_object_prompt


def test_copy_source_gives_the_io_similarity_of_source_against_target(
    tmp_path, data, tiny_clip, tiny_dino, independent, kit
):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "migebench",
            "--data",
            str(data),
            "--model",
            "copy-source",
            "--out",
            str(out),
            "--metrics",
            "dino,clip_i,clip_t",
            "--clip-model",
            str(tiny_clip),
            "--dino-model",
            str(tiny_dino),
            "--device",
            "cpu",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    by_id = records(out)
    for subset, idx, obj, _ in RECORDS:
        record = by_id[f"{subset}-{idx}"]
        source = kit.rgb(data / f"{subset}/{subset}_source/{idx}_source.jpg")
        target = kit.rgb(data / f"{subset}/{subset}_target/{idx}_target.jpg")
        for name, value in kit.similarities(independent, source, target, f"a photo with {obj}").items():
            assert record["metrics"][name] == pytest.approx(value, abs=1e-5), name
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["subsets"]) == {"add", "replace"} and summary["n_failed"] == 0


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda row, root: (root / "add/add_target/21_target.jpg").unlink(), "image", "does not exist under"),
        (lambda row, root: row.update(idx="21"), "idx", "expected an integer, got str"),
        (lambda row, root: row.update(entity_path=row["entity_path"][0]), "entity_path", "expected a list of strings"),
        (
            lambda row, root: row.update(image="/path/to/MIGEBench/../../secret.jpg"),
            "image",
            "escapes the dataset root",
        ),
        (lambda row, root: row.update(mask_path=["/etc/passwd"]), "mask_path", "is absolute"),
        (lambda row, root: row.update(multi_prompt="  "), "multi_prompt", "empty"),
        (
            lambda row, root: row.update(multi_prompt="add <imagehere> here"),
            "multi_prompt",
            "has 1 <imagehere> placeholder(s) but the row gives 2 instruction image(s)",
        ),
        (
            lambda row, root: row.update(entity_path=[row["source_path"][0]] * 2),
            "entity_path",
            "expected exactly one *_entity_black file",
        ),
    ],
)
def test_a_bad_row_fails_that_sample_only_and_names_row_and_field(tmp_path, data, change, field, message):
    edit_rows(data, "add", change)
    samples = load(data)
    broken = [s for s in samples if isinstance(s, BrokenSample)]
    assert len(samples) == 4 and len(broken) == 1
    assert broken[0].error.startswith(f"add_bench.json row 0, field {field!r}") and message in broken[0].error

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "migebench",
            "--data",
            str(data),
            "--model",
            "copy-source",
            "--out",
            str(out),
            "--metrics",
            "none",
            "--quiet",
        ],
    )
    assert result.exit_code == 1, result.output
    by_id = records(out)
    assert by_id[broken[0].id]["error"] == broken[0].error
    assert sorted(p.stem for p in (out / "images").iterdir()) == sorted(i for i in by_id if i != broken[0].id)


def test_a_wrong_file_stops_the_benchmark_naming_it(data):
    (data / "replace_bench.json").write_text(json.dumps({"idx": 1}))
    with pytest.raises(DataError, match="replace_bench.json must hold a list of records, got dict"):
        load(data)
    (data / "replace_bench.json").unlink()
    with pytest.raises(DataError, match="migebench replace file .*replace_bench.json is missing"):
        load(data)


def test_verify_reports_counts_against_the_card(data):
    result = CliRunner().invoke(app, ["verify", "--bench", "migebench", "--data", str(data)])
    assert result.exit_code == 1
    assert "add rows is 2, the card expects 500" in result.output
    assert "replace rows is 2, the card expects 500" in result.output


# --- outputs named as MIGE's MIGEBench_infer.py names them: <save_root>/<idx>.jpg, one run per subset file --


@pytest.fixture()
def shared_idx(tmp_path, dreambench_root) -> Path:
    """Both subsets numbered from 0, so that their ``<idx>.jpg`` outputs collide in one folder."""

    def image(kind: str, n: int, size: tuple[int, int]) -> Image.Image:
        with Image.open(dreambench_root / PHOTO[kind] / f"0{n}.jpg") as img:
            return img.convert("RGB").resize(size, Image.Resampling.BICUBIC)

    records = [
        ("add", 0, "a dog", (64, 64)),
        ("add", 1, "a cat", (64, 64)),
        ("replace", 0, "a vase", (64, 64)),
        ("replace", 1, "a clock", (64, 64)),
    ]
    return write_migebench(tmp_path / "MIGEBench", records, image)


def mige_outputs(folder: Path, dreambench_root: Path, subject: str) -> dict[int, bytes]:
    """``<idx>.jpg`` for idx 0 and 1: real photos, JPEG as MIGE's save_image writes them."""
    folder.mkdir(parents=True)
    out = {}
    for idx in (0, 1):
        with Image.open(dreambench_root / subject / f"0{idx}.jpg") as img:
            img.convert("RGB").resize((64, 64)).save(folder / f"{idx}.jpg", quality=75)
        out[idx] = (folder / f"{idx}.jpg").read_bytes()
    return out


def score(*args) -> object:
    return CliRunner().invoke(
        app, ["score", "--bench", "migebench", "--metrics", "none", "--quiet", *[str(a) for a in args]]
    )


def test_each_subsets_idx_jpg_folder_is_scored_with_subset(tmp_path, shared_idx, dreambench_root):
    files = {
        "add": mige_outputs(tmp_path / "add_results", dreambench_root, "dog"),
        "replace": mige_outputs(tmp_path / "replace_results", dreambench_root, "cat"),
    }
    for subset in ("add", "replace"):
        out = tmp_path / f"scored-{subset}"
        result = score(
            "--data", shared_idx, "--images", tmp_path / f"{subset}_results", "--subset", subset, "--out", out
        )
        assert result.exit_code == 0, result.output
        assert "layout mige (detected)" in result.output
        by_id = records(out)
        assert sorted(by_id) == [f"{subset}-0", f"{subset}-1"]
        for idx, data in files[subset].items():
            assert by_id[f"{subset}-{idx}"]["image"] == f"images/{subset}-{idx}.jpg"
            assert (out / "images" / f"{subset}-{idx}.jpg").read_bytes() == data
        run = json.loads((out / "run.json").read_text())
        assert run["generation"]["bench"]["subset"] == subset
        assert json.loads((out / "summary.json").read_text())["n"] == 2


def test_one_folder_for_both_subsets_is_refused_unless_split_by_subset(tmp_path, shared_idx, dreambench_root):
    mige_outputs(tmp_path / "results", dreambench_root, "dog")
    result = score("--data", shared_idx, "--images", tmp_path / "results", "--out", tmp_path / "run")
    text = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "layout mige: 2 ambiguous match(es)" in text and "0.jpg: the output of add-0 and of replace-0" in text
    assert "score one subset with --subset add or --subset replace" in text
    assert not (tmp_path / "run").exists()

    # Each subset's outputs in a folder named after it: both subsets in one run.
    split = tmp_path / "split"
    files = {
        "add": mige_outputs(split / "add", dreambench_root, "dog"),
        "replace": mige_outputs(split / "replace", dreambench_root, "cat"),
    }
    result = score("--data", shared_idx, "--images", split, "--out", tmp_path / "both")
    assert result.exit_code == 0, result.output
    by_id = records(tmp_path / "both")
    assert {i: (tmp_path / "both" / r["image"]).read_bytes() for i, r in by_id.items()} == {
        f"{subset}-{idx}": data for subset, outputs in files.items() for idx, data in outputs.items()
    }


def test_subset_is_checked(tmp_path, shared_idx, dreambench_root):
    mige_outputs(tmp_path / "results", dreambench_root, "dog")
    result = score("--data", shared_idx, "--images", tmp_path / "results", "--subset", "remove")
    assert result.exit_code == 2 and "migebench: --subset 'remove' is not one of add, replace" in result.output
    result = CliRunner().invoke(
        app, ["score", "--bench", "dreambench", "--images", str(tmp_path / "results"), "--subset", "add"]
    )
    assert result.exit_code == 2 and "--subset picks a MIGEBench subset (add or replace)" in result.output
