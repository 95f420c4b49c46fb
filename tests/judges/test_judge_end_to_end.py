"""``mige-eval run`` with judge metrics on the real DreamBench and an Emu Edit layout built from its photos.

The judge is a chat-completions server on 127.0.0.1 whose answers the test fixes per request (so every
score is checked exactly), or the tiny random Qwen2.5-VL loaded from its folder (noise: counted nulls).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from chat_server import ChatServer, Reply, inspect
from emuedit_data import default_rows, write_hub_snapshot
from mige_eval.cli import app
from mige_eval.images import load_path
from mige_eval.metrics.judge_prompts import prepare_dreambench_plus

KEY_ENV, KEY = "MIGE_EVAL_TEST_JUDGE_KEY", "sk-e2e-secret-4242"


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def read(run_dir):
    records = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return records, json.loads((run_dir / "summary.json").read_text()), json.loads((run_dir / "run.json").read_text())


def dreambench_reply(body) -> Reply:
    asked = inspect(body)
    if asked["prompt"] == "dbp_cp":
        return Reply("Score: 3")
    if "jungle" in asked["text"]:
        return Reply("Analysis: a backpack among trees.\nScore: 2")
    if "snow" in asked["text"]:
        return Reply("Score: 4")
    return Reply("Score: 3\nScore: 4")  # two scores: unreadable by DreamBench++'s rule


def test_dreambench_judged_by_a_server_end_to_end_then_from_the_cache(tmp_path, dreambench_root, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    common = [
        "--bench",
        "dreambench",
        "--data",
        dreambench_root,
        "--model",
        "copy-source",
        "--limit",
        "3",
        "--metrics",
        "judge_cp,judge_pf,judge_cp_pf",
        "--judge-model",
        "judge-test",
        "--judge-api-key-env",
        KEY_ENV,
        "--cache-dir",
        tmp_path / "cache",
        "--quiet",
    ]
    with ChatServer(dreambench_reply) as server:
        first = invoke("run", *common, "--judge-url", server.url, "--out", tmp_path / "first")
        chats = list(server.chats)
        again = invoke("run", *common, "--judge-url", server.url, "--out", tmp_path / "again")
        assert len(server.requests) == len(chats) == 4  # the second run sends nothing at all
    # copy-source outputs the input photo, which is also the reference: one CP question serves the 3 samples
    assert sorted(inspect(c.body)["prompt"] for c in chats) == ["dbp_cp", "dbp_pf", "dbp_pf", "dbp_pf"]
    assert all(c.headers["Authorization"] == f"Bearer {KEY}" for c in chats)
    cp = inspect(next(c.body for c in chats if inspect(c.body)["prompt"] == "dbp_cp"))
    photo = prepare_dreambench_plus(load_path(dreambench_root / "backpack" / "00.jpg"))
    assert all(np.array_equal(np.asarray(img), np.asarray(photo.pixels)) for img in cp["images"])

    records, summary, run = read(tmp_path / "first")
    assert [r["id"] for r in records] == ["backpack-00", "backpack-01", "backpack-02"]
    assert [r["metrics"] for r in records] == [
        {"judge_cp": 0.75, "judge_pf": 0.5, "judge_cp_pf": 0.375},
        {"judge_cp": 0.75, "judge_pf": 1.0, "judge_cp_pf": 0.75},
        {"judge_cp": 0.75, "judge_pf": None, "judge_cp_pf": None},
    ]
    assert summary["metrics"] == {"judge_cp": 0.75, "judge_pf": 0.75, "judge_cp_pf": 0.5625}
    assert summary["counts"] == {"judge_cp": 3, "judge_pf": 2, "judge_cp_pf": 2}
    assert summary["flags"]["judge_pf_unparsed"]["total"] == 1
    assert any(n.startswith("judge_pf_unparsed: 1 samples") for n in summary["notes"])
    assert run["backbones_used"]["judge"] == {
        "kind": "remote",
        "url": server.url,
        "model": "judge-test",
        "api_key_env": KEY_ENV,
        "decoding": {"temperature": 0, "max_tokens": 512},
        "prompts": {"dbp_cp": 1, "dbp_pf": 1},
        "answers": {"asked": 4},
    }
    judgements = [json.loads(line) for line in (tmp_path / "first" / "judgements.jsonl").read_text().splitlines()]
    assert len(judgements) == 6 and {j["prompt"] for j in judgements} == {"dbp_cp@v1", "dbp_pf@v1"}

    again_records, again_summary, again_run = read(tmp_path / "again")
    assert [r["metrics"] for r in again_records] == [r["metrics"] for r in records]
    assert again_run["backbones_used"]["judge"]["answers"] == {"cached": 4}
    # the key travels only in the Authorization header: no output, record or cache holds it
    assert KEY not in first.output + again.output
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


SC_ANSWERS = {
    "add a red hat to the dog": '{"score": [6, 9], "reasoning": "hat is small"}',  # SC 6
    "remove the backpack straps": '||V^=^V||{"score": [2, 10], "reasoning": "nothing removed"}||V^=^V||',
    "make it a watercolor painting": "[0, 10]",
    "put the dog on a beach": "no idea",
}  # unreadable


def emu_reply(failing: set[str]):
    def reply(body) -> Reply:
        asked = inspect(body)
        if asked["prompt"] == "vie_sc":
            if asked["text"] in failing:
                return Reply("model overloaded", status=503)
            return Reply(SC_ANSWERS[asked["text"]])
        width, height = asked["images"][0].size
        return Reply(json.dumps({"score": [width % 11, height % 11], "reasoning": "by size"}))

    return reply


def test_emu_edit_viescore_end_to_end_with_a_failing_sample_then_resumed(tmp_path, dreambench_root):
    data = tmp_path / "emu"
    rows = default_rows(dreambench_root)[:4]
    write_hub_snapshot(data, rows)
    sizes = [
        load_path(dreambench_root / photo).size
        for photo, *_ in [("dog/00.jpg",), ("backpack/00.jpg",), ("teapot/03.jpg",), ("dog/01.jpg",)]
    ]
    pq = [min(w % 11, h % 11) for w, h in sizes]
    common = [
        "--bench",
        "emuedit",
        "--data",
        data,
        "--model",
        "copy-source",
        "--metrics",
        "l1,vie_sc,vie_pq,vie_o",
        "--judge-url",
        None,
        "--judge-model",
        "judge-test",
        "--judge-retries",
        "1",
        "--cache-dir",
        tmp_path / "cache",
        "--out",
        tmp_path / "run",
        "--quiet",
    ]
    failing = {"make it a watercolor painting"}
    with ChatServer(emu_reply(failing)) as server:
        common[common.index("--judge-url") + 1] = server.url
        invoke("run", *common, code=1)  # one sample failed: exit 1, the rest scored
        records, summary, _ = read(tmp_path / "run")
        assert summary["n_failed"] == 1 and records[2]["error"].startswith("metric vie_sc: judge judge-test")
        assert "HTTP 503" in records[2]["error"] and "after 2 attempts" in records[2]["error"]
        sc_asked = [inspect(c.body)["text"] for c in server.chats if inspect(c.body)["prompt"] == "vie_sc"]
        assert sc_asked.count("make it a watercolor painting") == 2  # one retry, then never again in this run
        first_images = [
            inspect(c.body)["images"]
            for c in server.chats
            if inspect(c.body)["prompt"] == "vie_sc" and inspect(c.body)["text"] == "add a red hat to the dog"
        ][0]
        failing.clear()
        invoke("run", *common)
        asked = [(inspect(c.body)["prompt"], inspect(c.body)["text"]) for c in server.chats]
    # over both runs every question was asked once, but for the failed one (2 attempts, then once more on resume)
    assert sorted(asked, key=str) == sorted(
        [("vie_sc", t) for t in SC_ANSWERS]
        + [("vie_pq", None)] * 4
        + [("vie_sc", "make it a watercolor painting")] * 2,
        key=str,
    )
    # the judge saw the source and the (copied) output at the source's size, losslessly
    source = np.asarray(load_path(dreambench_root / "dog" / "00.jpg"))
    assert all(np.array_equal(np.asarray(img), source) for img in first_images)

    records, summary, _ = read(tmp_path / "run")
    assert summary["n_failed"] == 0 and all(r["metrics"]["l1"] == 0.0 for r in records)
    sc = [6.0, 2.0, 0.0, None]
    for record, sc_value, pq_value in zip(records, sc, pq):
        o = None if sc_value is None else pytest.approx(math.sqrt(sc_value * pq_value), abs=1e-12)
        assert record["metrics"] == {"l1": 0.0, "vie_sc": sc_value, "vie_pq": float(pq_value), "vie_o": o}
    assert records[3]["flags"] == ["vie_sc_unparsed"]
    assert summary["metrics"]["vie_sc"] == pytest.approx(8 / 3, abs=1e-12)
    assert summary["metrics"]["vie_pq"] == pytest.approx(sum(pq) / 4, abs=1e-12)


def test_dreambench_judged_by_a_tiny_local_qwen_gives_counted_parse_failures(tmp_path, dreambench_root, tiny_qwen):
    run_dir = tmp_path / "run"
    result = invoke(
        "run",
        "--bench",
        "dreambench",
        "--data",
        dreambench_root,
        "--model",
        "copy-source",
        "--limit",
        "2",
        "--metrics",
        "judge_cp,judge_pf,judge_cp_pf",
        "--judge-model",
        tiny_qwen,
        "--judge-max-tokens",
        "16",
        "--device",
        "cpu",
        "--no-cache",
        "--cache-dir",
        tmp_path / "cache",
        "--out",
        run_dir,
        "--quiet",
    )
    records, summary, run = read(run_dir)
    assert summary["n_failed"] == 0 and summary["metrics"] == dict.fromkeys(["judge_cp", "judge_pf", "judge_cp_pf"])
    assert {flag: info["total"] for flag, info in summary["flags"].items()} == {
        "judge_cp_unparsed": 2,
        "judge_pf_unparsed": 2,
    }
    assert all(r["metrics"] == dict.fromkeys(["judge_cp", "judge_pf", "judge_cp_pf"]) for r in records)
    assert "judge_cp n/a" in result.output
    judge = run["backbones_used"]["judge"]
    assert judge["kind"] == "local" and judge["model"] == "local" and judge["revision"].startswith("sha256:")
    assert judge["decoding"]["max_new_tokens"] == 16 and judge["prompts"] == {"dbp_cp": 1, "dbp_pf": 1}
    assert judge["answers"] == {"asked": 3}  # one CP question (same photo, same copied output), two PF questions
    assert not (tmp_path / "cache").exists()  # --no-cache


def test_judge_options_are_checked_with_a_clear_error(tmp_path, dreambench_root):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "dreambench",
            "--data",
            str(dreambench_root),
            "--model",
            "copy-source",
            "--limit",
            "1",
            "--metrics",
            "judge_pf",
            "--judge-url",
            "http://me:pw@127.0.0.1:1/v1",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
    )
    assert result.exit_code == 2 and "must not carry credentials" in result.output
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "emuedit",
            "--model",
            "copy-source",
            "--metrics",
            "judge_cp",
            "--out",
            str(tmp_path / "run2"),
            "--quiet",
        ],
    )
    assert result.exit_code == 2 and "not defined for emuedit" in " ".join(result.output.split())
