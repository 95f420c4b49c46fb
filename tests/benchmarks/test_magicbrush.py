"""MagicBrush loader (release ``test/`` layout and hub dev split), both turn settings, end to end with copy-source."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from layouts import write_magicbrush
from mige_eval.benchmarks.base import DataError
from mige_eval.benchmarks.magicbrush import MagicBrushBench
from mige_eval.cli import app
from mige_eval.presets import Presets
from mige_eval.types import BrokenSample

HELPERS = Path(__file__).resolve().parents[1] / "helpers" / "adapters.py"
SESSIONS = {"101": 2, "202": 1, "303": 3}
SUBJECTS = ("dog", "cat", "backpack", "teapot", "red_cartoon", "vase", "clock")


@pytest.fixture()
def release(tmp_path, dreambench_root) -> Path:
    """The release layout over real photos: every turn a different 512×512 DreamBench photo."""
    order = {img_id: n for n, img_id in enumerate(SESSIONS)}

    def image(img_id: str, k: int) -> Image.Image:
        with Image.open(dreambench_root / SUBJECTS[(order[img_id] + k) % len(SUBJECTS)] / "00.jpg") as img:
            side = min(img.size)
            return img.convert("RGB").crop((0, 0, side, side)).resize((512, 512), Image.Resampling.BICUBIC)

    return write_magicbrush(tmp_path / "test", SESSIONS, image)


def load(root: Path, *presets: str) -> list:
    bench = MagicBrushBench(MagicBrushBench.builtin_card(), data=root, presets=Presets.from_names(presets))
    return list(bench.samples())


def records(run_dir: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines())}


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), np.float64) / 255.0


def test_single_turn_pairs_each_turn_with_its_gt_input_target_and_local_description(release):
    samples = {s.id: s for s in load(release)}
    assert sorted(samples) == ["101-t1", "101-t2", "202-t1", "303-t1", "303-t2", "303-t3"]
    turn = samples["303-t2"]
    assert (turn.source.label, turn.mask.label, turn.references[0].label) == (
        "images/303/303-output1.png",
        "images/303/303-mask2.png",
        "images/303/303-output2.png",
    )
    assert (turn.instruction, turn.caption) == ("edit 303 turn 2", "local 303 turn 2")
    assert (turn.input_caption, turn.output_caption) == ("global 303 turn 1", "global 303 turn 2")
    assert samples["101-t1"].source.label == "images/101/101-input.png"
    assert {k: samples["101-t2"].meta[k] for k in ("img_id", "turn")} == {"img_id": "101", "turn": 2}


def test_turns_are_paired_by_index_not_by_list_order(release):
    sessions = json.loads((release / "edit_sessions.json").read_text())
    sessions["303"].reverse()
    (release / "edit_sessions.json").write_text(json.dumps(sessions))
    samples = {s.id: s for s in load(release)}
    assert samples["303-t3"].source.label == "images/303/303-output2.png"
    assert samples["303-t1"].references[0].label == "images/303/303-output1.png"


def test_multi_turn_is_one_sample_per_session_scored_on_the_last_turn(release):
    samples = {s.id: s for s in load(release, "multi-turn")}
    assert sorted(samples) == ["101", "202", "303"]
    chain = samples["303"]
    assert chain.source.label == "images/303/303-input.png"
    assert chain.references[0].label == "images/303/303-output3.png" and chain.caption == "local 303 turn 3"
    assert [t.index for t in chain.meta["turns"]] == [1, 2, 3]
    assert (chain.meta["img_id"], chain.meta["turn"]) == ("303", 3) and samples["202"].meta["turn"] == 1


def test_copy_source_single_turn_gives_the_io_similarity_of_each_turn(
    tmp_path, release, tiny_clip, tiny_dino, independent, kit
):
    out = tmp_path / "run"
    invoke(
        "run",
        "--bench",
        "magicbrush",
        "--data",
        str(release),
        "--model",
        "copy-source",
        "--out",
        str(out),
        "--metrics",
        "l1,l2,dino,clip_i,clip_t,clip_dir,clip_t_oracle",
        "--clip-model",
        str(tiny_clip),
        "--dino-model",
        str(tiny_dino),
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
    )
    by_id = records(out)
    assert len(by_id) == 6 and not any(r["error"] for r in by_id.values())
    for sample_id, record in by_id.items():
        img_id, k = sample_id.split("-t")
        source = (
            release / "images" / img_id / (f"{img_id}-input.png" if k == "1" else f"{img_id}-output{int(k) - 1}.png")
        )
        target = release / "images" / img_id / f"{img_id}-output{k}.png"
        diff = pixels(source) - pixels(target)
        assert record["metrics"]["l1"] == pytest.approx(np.abs(diff).mean(), abs=1e-6)
        assert record["metrics"]["l2"] == pytest.approx((diff**2).mean(), abs=1e-6)
        expected = kit.similarities(independent, kit.rgb(source), kit.rgb(target), f"local {img_id} turn {k}")
        for name, value in expected.items():
            assert record["metrics"][name] == pytest.approx(value, abs=1e-5), name
        oracle = kit.cos(independent.clip_image(kit.rgb(target)), independent.clip_text(f"local {img_id} turn {k}"))
        assert record["metrics"]["clip_t_oracle"] == pytest.approx(oracle, abs=1e-5)
        # The output is its source pixel for pixel: no image direction, so clip_dir is undefined.
        assert record["metrics"]["clip_dir"] is None and "clip_dir_identical_images" in record["flags"]


def test_multi_turn_chains_the_model_on_its_own_outputs(tmp_path, release):
    out = tmp_path / "chain"
    invoke(
        "run",
        "--bench",
        "magicbrush",
        "--data",
        str(release),
        "--preset",
        "multi-turn",
        "--model",
        f"{HELPERS}:HalveSource",
        "--out",
        str(out),
        "--metrics",
        "l1",
        "--quiet",
    )
    by_id = records(out)
    for img_id, turns in SESSIONS.items():
        chained = np.asarray(Image.open(release / "images" / img_id / f"{img_id}-input.png").convert("RGB"))
        for _ in range(turns):
            chained = chained // 2
        output = np.asarray(Image.open(out / "images" / f"{img_id}.png").convert("RGB"))
        assert np.array_equal(output, chained)
        last = pixels(release / "images" / img_id / f"{img_id}-output{turns}.png")
        assert by_id[img_id]["metrics"]["l1"] == pytest.approx(np.abs(chained / 255.0 - last).mean(), abs=1e-6)


def results_tree(root: Path, dreambench_root: Path) -> dict[str, bytes]:
    """What the MagicBrush generation and evaluation scripts use (``evaluation/image_eval.py``): one folder
    per session holding ``<id>_1.png`` (turn 1, both settings), ``<id>_inde_<k>.png`` (turn k edited from
    the GT input) and ``<id>_iter_<k>.png`` (turn k edited from the model's own turn k-1); each file a
    different real photo. Returns the bytes of every file by its path in the tree."""
    files, n = {}, 0
    for img_id, turns in SESSIONS.items():
        names = [f"{img_id}_1"] + [f"{img_id}_{kind}_{k}" for k in range(2, turns + 1) for kind in ("inde", "iter")]
        for name in names:
            with Image.open(dreambench_root / SUBJECTS[n % len(SUBJECTS)] / f"0{n // len(SUBJECTS)}.jpg") as img:
                picture = img.convert("RGB").resize((512, 512), Image.Resampling.BICUBIC)
            buf = BytesIO()
            picture.save(buf, format="PNG")
            files[f"{img_id}/{name}.png"] = buf.getvalue()
            n += 1
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return files


SINGLE = {
    "101-t1": "101/101_1.png",
    "101-t2": "101/101_inde_2.png",
    "202-t1": "202/202_1.png",
    "303-t1": "303/303_1.png",
    "303-t2": "303/303_inde_2.png",
    "303-t3": "303/303_inde_3.png",
}
MULTI = {"101": "101/101_iter_2.png", "202": "202/202_1.png", "303": "303/303_iter_3.png"}


@pytest.mark.parametrize("setting, expected", [("single-turn", SINGLE), ("multi-turn", MULTI)])
def test_score_reads_the_evaluation_scripts_results_tree_in_either_setting(
    tmp_path, release, dreambench_root, setting, expected
):
    files = results_tree(tmp_path / "results", dreambench_root)
    (tmp_path / "results" / "303" / "303_final.png").write_bytes(files["303/303_1.png"])  # not a script name
    out = tmp_path / "scored"
    result = invoke(
        "score",
        "--bench",
        "magicbrush",
        "--data",
        str(release),
        "--preset",
        setting,
        "--images",
        str(tmp_path / "results"),
        "--out",
        str(out),
        "--metrics",
        "l1",
        "--quiet",
    )
    assert "layout magicbrush (detected)" in result.output
    assert "1 output(s) in" in result.output and "match no sample: 303/303_final.png" in result.output
    by_id = records(out)
    assert sorted(by_id) == sorted(expected)
    for sample_id, path in expected.items():
        stored = out / by_id[sample_id]["image"]
        assert stored.name == f"{sample_id}.png" and stored.read_bytes() == files[path]  # byte for byte
        img_id, _, k = sample_id.partition("-t")
        turn = int(k) if k else SESSIONS[img_id]  # multi-turn: the last turn
        target = pixels(release / "images" / img_id / f"{img_id}-output{turn}.png")
        output = np.asarray(Image.open(BytesIO(files[path])).convert("RGB"), np.float64) / 255
        assert by_id[sample_id]["metrics"]["l1"] == pytest.approx(np.abs(output - target).mean(), abs=1e-9)
    # The other setting's files and a chain's intermediate turns belong to the tree: not unmatched.
    outputs = json.loads((out / "run.json").read_text())["outputs"]
    assert (outputs["detected"], outputs["matched"], outputs["unmatched_first"]) == (
        "magicbrush",
        len(expected),
        ["303/303_final.png"],
    )


def test_a_chain_without_its_last_turn_fails_instead_of_taking_an_earlier_one(tmp_path, release, dreambench_root):
    results_tree(tmp_path / "results", dreambench_root)
    (tmp_path / "results" / "303" / "303_iter_3.png").unlink()  # the script would score _iter_2 against turn 3
    out = tmp_path / "scored"
    result = CliRunner().invoke(
        app,
        [
            "score",
            "--bench",
            "magicbrush",
            "--data",
            str(release),
            "--preset",
            "multi-turn",
            "--images",
            str(tmp_path / "results"),
            "--out",
            str(out),
            "--metrics",
            "l1",
            "--quiet",
        ],
    )
    assert result.exit_code == 1
    assert "1 of 3 samples to score have no output (they fail): 303" in result.output
    by_id = records(out)
    assert by_id["303"]["error"].startswith(
        "no output for sample 303: looked for the MagicBrush script's results "
        "tree: <img_id>/<img_id>_1.png (turn 1), <img_id>_iter_<K>.png"
    )
    assert by_id["101"]["error"] is None and by_id["202"]["error"] is None


def test_a_flattened_tree_is_read_too(tmp_path, release, dreambench_root):
    files = results_tree(tmp_path / "tree", dreambench_root)
    flat = tmp_path / "flat"
    flat.mkdir()
    for path, data in files.items():
        (flat / path.split("/")[1]).write_bytes(data)
    out = tmp_path / "scored"
    invoke(
        "score",
        "--bench",
        "magicbrush",
        "--data",
        str(release),
        "--images",
        str(flat),
        "--out",
        str(out),
        "--metrics",
        "l1",
        "--quiet",
    )
    by_id = records(out)
    assert {i: (out / r["image"]).read_bytes() for i, r in by_id.items()} == {
        i: files[path] for i, path in SINGLE.items()
    }


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda s, root: s["101"][1].update(instruction=""), "instruction", "empty"),
        (lambda s, root: s["101"][1].update(instruction=7), "instruction", "expected a string, got int"),
        (lambda s, root: s["101"][1].update(mask="../../../etc/passwd"), "mask", "escapes the dataset root"),
        (lambda s, root: (root / "images/101/101-output2.png").unlink(), "output", "does not exist"),
        (lambda s, root: s["101"][1].update(output="101-final.png"), "output", "turn is unknown"),
        (lambda s, root: s["101"][1].update(input="101-input.png"), "input", "paired by the index"),
    ],
)
def test_a_bad_turn_fails_that_sample_only_and_names_row_and_field(tmp_path, release, change, field, message):
    sessions = json.loads((release / "edit_sessions.json").read_text())
    change(sessions, release)
    (release / "edit_sessions.json").write_text(json.dumps(sessions))
    samples = load(release)
    broken = [s for s in samples if isinstance(s, BrokenSample)]
    assert len(broken) == 1 and len(samples) == 6
    assert f"edit_sessions.json image 101 turn record 1, field {field!r}" in broken[0].error
    assert message in broken[0].error

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "magicbrush",
            "--data",
            str(release),
            "--model",
            "copy-source",
            "--out",
            str(out),
            "--metrics",
            "l1",
            "--quiet",
        ],
    )
    assert result.exit_code == 1, result.output  # a failed sample: exit 1, everything else kept
    by_id = records(out)
    assert by_id[broken[0].id]["error"] == broken[0].error
    assert sum(1 for r in by_id.values() if r["metrics"].get("l1") is not None) == 5


def test_wrong_files_as_a_whole_stop_the_benchmark_with_their_name(tmp_path, release):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither the release layout"):
        load(tmp_path / "empty")
    (release / "local_descriptions.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="local_descriptions.json must hold an object keyed by image id"):
        load(release)
    (release / "edit_sessions.json").write_text("{not json")
    with pytest.raises(DataError, match="edit_sessions.json .*is not readable JSON"):
        load(release)


def test_verify_checks_counts_and_image_size(tmp_path, release):
    result = CliRunner().invoke(app, ["verify", "--bench", "magicbrush", "--data", str(release)])
    assert result.exit_code == 1
    assert "sessions is 3, the card expects 535" in result.output
    assert "turns is 6, the card expects 1053" in result.output
    Image.new("RGB", (500, 512)).save(release / "images/202/202-output1.png")
    result = CliRunner().invoke(app, ["verify", "--bench", "magicbrush", "--data", str(release)])
    assert "images/202/202-output1.png: 500x512, the release's images are 512x512" in result.output


def test_hub_dev_split_is_read_for_development(tmp_path, dreambench_root):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")

    def png(subject: str) -> dict:
        buffer = BytesIO()
        Image.open(dreambench_root / subject / "00.jpg").convert("RGB").resize((64, 64)).save(buffer, "PNG")
        return {"bytes": buffer.getvalue(), "path": None}

    rows = [("9", 1, "dog", "cat"), ("9", 2, "cat", "teapot"), ("8", 1, "vase", "clock")]
    table = pa.table(
        {
            "img_id": [r[0] for r in rows],
            "turn_index": [r[1] for r in rows],
            "source_img": [png(r[2]) for r in rows],
            "mask_img": [png("backpack") for _ in rows],
            "instruction": [f"edit {r[0]} {r[1]}" for r in rows],
            "target_img": [png(r[3]) for r in rows],
        }
    )
    (tmp_path / "dev" / "data").mkdir(parents=True)
    pq.write_table(table, tmp_path / "dev" / "data" / "dev-00000-of-00001-0123456789abcdef.parquet")
    samples = {s.id: s for s in load(tmp_path / "dev")}
    assert sorted(samples) == ["8-t1", "9-t1", "9-t2"] and samples["9-t2"].subset == "dev"
    assert samples["9-t2"].caption is None and samples["9-t2"].instruction == "edit 9 2"
    out = tmp_path / "run"
    invoke(
        "run",
        "--bench",
        "magicbrush",
        "--data",
        str(tmp_path / "dev"),
        "--model",
        "copy-source",
        "--out",
        str(out),
        "--metrics",
        "l1",
        "--quiet",
    )
    source, target = (
        np.asarray(Image.open(BytesIO(png(name)["bytes"])), np.float64) / 255.0 for name in ("cat", "teapot")
    )
    assert records(out)["9-t2"]["metrics"]["l1"] == pytest.approx(np.abs(source - target).mean(), abs=1e-6)
    # the dev split has no descriptions: clip_t is refused before any work, with what to do
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "magicbrush",
            "--data",
            str(tmp_path / "dev"),
            "--model",
            "copy-source",
            "--out",
            str(tmp_path / "r2"),
            "--metrics",
            "l1,clip_t",
        ],
    )
    assert result.exit_code == 2 and not (tmp_path / "r2").exists()
    assert "metric clip_t needs each sample's caption, and no sample of magicbrush here has one" in " ".join(
        result.output.split()
    )


def test_download_explains_where_the_protected_archive_is():
    result = CliRunner().invoke(app, ["download", "--bench", "magicbrush"])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert "password-protected zip (password: MagicBrush)" in text and "--data" in text
