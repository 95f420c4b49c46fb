"""vie_* and judge_* through the scorer, judged by a chat-completions server whose answers the test fixes.

Every expected value is worked out by hand from the fixed answers and the published definitions.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from chat_server import ChatServer, Reply, inspect
from mige_eval.benchmarks.turns import TURNS, Turn
from mige_eval.images import ImageRef
from mige_eval.metrics.base import ScoringContext, ScoringOptions
from mige_eval.metrics.dreambench_plus import JudgeCp
from mige_eval.metrics.judge import judge_for
from mige_eval.metrics.viescore import VieO, VieSc
from mige_eval.presets import Presets
from mige_eval.scoring import Scorer
from mige_eval.types import Sample

VIE = ["vie_sc", "vie_pq", "vie_o"]
DBP = ["judge_cp", "judge_pf", "judge_cp_pf"]


def solid(red: int, size=(40, 30)) -> Image.Image:
    """Solid colours survive the judge's resizing and PNG exactly: the server reads the red value back."""
    return Image.fromarray(np.full((size[1], size[0], 3), (red, 10, 10), np.uint8))


def ref(img: Image.Image, label: str) -> ImageRef:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return ImageRef.from_bytes(buf.getvalue(), label)


def edit(sample_id: str, instruction: str, *, prompt: str | None = None, **meta) -> Sample:
    source = ref(solid(200, (50, 40)), "src.png")
    return Sample(
        id=sample_id,
        task="edit",
        subset="test",
        instruction=instruction,
        prompt=instruction if prompt is None else prompt,
        source=source,
        references=(source,),
        meta=meta,
    )


#: SC answers by instruction, PQ answers by the output's red value (GEdit-Bench answer formats).
SC = {
    "make the sky blue": '{"score": [7, 4], "reasoning": "partly"}',  # SC 4
    "add a hat": "[8, 9]",  # SC 8
    "remove the dog": "I cannot tell.",
}  # unreadable
PQ = {
    0: '||V^=^V||{"score": [9, 6], "reasoning": "ok"}||V^=^V||',  # PQ 6
    20: '{"score": 10, "reasoning": "clean"}',  # PQ 10
    40: "[5, 5]",  # PQ 5
    80: '{"score": [3, 7]}',
}  # PQ 3


def vie_reply(body) -> Reply:
    asked = inspect(body)
    if asked["prompt"] == "vie_sc":
        return Reply(SC[asked["text"]])
    return Reply(PQ[asked["images"][0].getpixel((0, 0))[0]])


def vie_samples():
    turns = (Turn(1, "add a hat"), Turn(2, "make it red"))
    samples = [
        edit("s0", "make the sky blue"),
        edit("s1", "add a hat"),
        edit("s2", "remove the dog"),
        edit("s3", "add a hat", **{TURNS: turns}),
        edit("s4", "put <imagehere> here", prompt=""),
    ]
    return samples, [solid(red) for red in (0, 20, 40, 60, 80)]


def context(server, tmp_path, **options) -> ScoringContext:
    opts = dict(
        judge_url=server.url,
        judge_model="judge-test",
        judge_api_key_env="MIGE_EVAL_TEST_KEY",
        cache_dir=tmp_path / "cache",
        judge_retries=1,
        device="cpu",
    )
    return ScoringContext(Presets.from_names([]), ScoringOptions(**{**opts, **options}), run_dir=tmp_path / "run")


def score(names, samples, outputs, ctx):
    scorer = Scorer(names, ctx)
    try:
        return scorer.score(samples, outputs)
    finally:
        scorer.close()


def test_viescore_values_follow_gedit_bench_from_the_judges_answers(tmp_path):
    samples, outputs = vie_samples()
    with ChatServer(vie_reply) as server:
        results = score(VIE, samples, outputs, context(server, tmp_path))
        asked = [(inspect(r.body)["prompt"], inspect(r.body)["text"]) for r in server.chats]
    assert [r.error for r in results] == [None] * 5
    assert results[0].metrics == {"vie_sc": 4.0, "vie_pq": 6.0, "vie_o": pytest.approx(math.sqrt(4 * 6), abs=1e-12)}
    assert results[1].metrics == {"vie_sc": 8.0, "vie_pq": 10.0, "vie_o": pytest.approx(math.sqrt(80), abs=1e-12)}
    assert results[2].metrics == {"vie_sc": None, "vie_pq": 5.0, "vie_o": None}
    assert results[2].flags == ["vie_sc_unparsed"]
    assert results[3].metrics == dict.fromkeys(VIE) and results[3].flags == ["judge_multi_turn"]
    assert results[4].metrics == {"vie_sc": None, "vie_pq": 3.0, "vie_o": None} and results[4].flags == [
        "judge_no_text"
    ]
    # each distinct question asked once: SC for s0-s2, PQ for s0-s2 and s4; vie_o reuses them
    assert sorted(asked, key=str) == sorted([("vie_sc", t) for t in SC] + [("vie_pq", None)] * 4, key=str)


def test_the_judge_sees_the_source_then_the_output_resized_to_it(tmp_path):
    sample = edit("s0", "make the sky blue")
    gradient = Image.fromarray(np.tile(np.arange(0, 250, 10, dtype=np.uint8)[None, :, None], (20, 1, 3)))
    with ChatServer(vie_reply) as server:
        score(["vie_sc"], [sample], [gradient], context(server, tmp_path))
        shown = inspect(server.chats[0].body)["images"]
    assert [img.size for img in shown] == [(50, 40), (50, 40)]
    assert np.array_equal(np.asarray(shown[0]), np.asarray(solid(200, (50, 40))))
    assert np.array_equal(np.asarray(shown[1]), np.asarray(gradient.resize((50, 40), Image.Resampling.BICUBIC)))


def test_answers_are_cached_across_runs_and_recorded_next_to_the_scores(tmp_path):
    samples, outputs = vie_samples()
    with ChatServer(vie_reply) as server:
        first = score(VIE, samples, outputs, context(server, tmp_path))
        sent = len(server.chats)
        again = score(VIE, samples, outputs, context(server, tmp_path))
        assert len(server.chats) == sent == 7  # the second run asks nothing
        uncached = score(VIE, samples, outputs, context(server, tmp_path, use_cache=False))
        assert len(server.chats) == 2 * sent  # --no-cache asks again
    assert [r.metrics for r in again] == [r.metrics for r in first] == [r.metrics for r in uncached]
    lines = [json.loads(line) for line in (tmp_path / "run" / "judgements.jsonl").read_text().splitlines()]
    assert len(lines) == 7  # one per (sample, request): reruns add no duplicates
    s0_sc = next(r for r in lines if r["sample"] == "s0" and r["prompt"] == "vie_sc@v1")
    assert s0_sc["answer"] == SC["make the sky blue"] and s0_sc["scores"] == [7.0, 4.0] and s0_sc["problem"] is None
    assert s0_sc["judge"] == f"judge-test at {server.url}"
    s2_sc = next(r for r in lines if r["sample"] == "s2" and r["prompt"] == "vie_sc@v1")
    assert s2_sc["scores"] is None and "no JSON object" in s2_sc["problem"]


def test_a_failed_request_fails_only_its_sample_and_a_rerun_asks_only_for_it(tmp_path):
    samples, outputs = vie_samples()
    healthy = True

    def respond(body):
        if not healthy and inspect(body)["text"] == "add a hat":
            return Reply("backend crashed", status=500)
        return vie_reply(body)

    with ChatServer(respond) as server:
        healthy = False
        broken = score(VIE + ["l1"], samples[:3], outputs[:3], context(server, tmp_path))
        assert len([r for r in server.chats if inspect(r.body)["text"] == "add a hat"]) == 2  # 1 + 1 retry, not more
        assert broken[1].error.startswith("metric vie_sc: judge judge-test at") and "HTTP 500" in broken[1].error
        assert "s1" in broken[1].error and broken[1].metrics == {}
        assert broken[0].error is None and broken[0].metrics["vie_o"] == pytest.approx(math.sqrt(24), abs=1e-12)
        assert broken[2].error is None and broken[2].metrics["vie_pq"] == 5.0
        assert broken[0].metrics["l1"] == pytest.approx(200 / 255 / 3, abs=1e-12)  # mean of |(0,10,10)-(200,10,10)|/255
        healthy = True
        fixed = score(VIE, samples[:3], outputs[:3], context(server, tmp_path))
        asked = [(inspect(r.body)["prompt"], inspect(r.body)["text"]) for r in server.chats]
    # over both runs each question was asked once, but s1's SC: two attempts, then once more in the rerun
    assert sorted(asked, key=str) == sorted(
        [("vie_sc", t) for t in SC] + [("vie_pq", None)] * 3 + [("vie_sc", "add a hat")] * 2, key=str
    )
    assert fixed[1].metrics == {"vie_sc": 8.0, "vie_pq": 10.0, "vie_o": pytest.approx(math.sqrt(80), abs=1e-12)}


def dbp_samples():
    photo = ref(solid(100, (64, 48)), "dog/00.jpg")
    prompts = ["a dog in the jungle", "a dog on the beach", "a dog in the snow"]
    return [
        Sample(
            id=f"dog-{i:02d}",
            task="subject",
            subset="live",
            instruction=p.replace("dog", "<imagehere>"),
            prompt=p,
            subject_photo=photo,
        )
        for i, p in enumerate(prompts)
    ], [solid(r) for r in (0, 20, 40)]


def dbp_reply(body) -> Reply:
    asked = inspect(body)
    if asked["prompt"] == "dbp_cp":  # by the output's red value; the reference comes first
        assert asked["images"][0].size == asked["images"][1].size == (512, 512)
        return Reply({0: "Score: 3", 20: "Score: 4", 40: "Score: 1"}[asked["images"][1].getpixel((0, 0))[0] // 4 * 4])
    return Reply(
        {
            "a dog in the jungle": "Analysis: good.\nScore: 2",
            "a dog on the beach": "Score: 4",
            "a dog in the snow": "Score: 3\nScore: 4",
        }[asked["text"]]
    )


def test_dreambench_plus_values_are_the_scores_over_four_and_their_product(tmp_path):
    samples, outputs = dbp_samples()
    with ChatServer(dbp_reply) as server:
        results = score(DBP, samples, outputs, context(server, tmp_path))
        assert len(server.chats) == 6
    assert results[0].metrics == {"judge_cp": 0.75, "judge_pf": 0.5, "judge_cp_pf": 0.375}
    assert results[1].metrics == {"judge_cp": 1.0, "judge_pf": 1.0, "judge_cp_pf": 1.0}
    assert results[2].metrics == {"judge_cp": 0.25, "judge_pf": None, "judge_cp_pf": None}
    assert results[2].flags == ["judge_pf_unparsed"]


def test_settings_name_the_judge_the_prompt_versions_and_the_decoding(tmp_path):
    with ChatServer(vie_reply) as server:
        ctx = context(server, tmp_path)
        settings = VieO(ctx).settings()
        assert settings == {
            "judge": {
                "kind": "remote",
                "url": server.url,
                "model": "judge-test",
                "decoding": {"temperature": 0, "max_tokens": 512},
            },
            "prompts": {"vie_sc": 1, "vie_pq": 1},
        }
        assert VieSc(ctx).settings()["prompts"] == {"vie_sc": 1}
        assert JudgeCp(ctx).settings()["prompts"] == {"dbp_cp": 1}
        shorter = VieO(context(server, tmp_path, judge_max_tokens=64)).settings()
        other = VieO(context(server, tmp_path, judge_model="other-judge")).settings()
        assert len({json.dumps(s, sort_keys=True) for s in (settings, shorter, other)}) == 3
        assert server.requests == []  # naming the model given: settings ask the server nothing
        described = judge_for(ctx).describe()
    assert described == {
        "kind": "remote",
        "url": server.url,
        "model": "judge-test",
        "api_key_env": "MIGE_EVAL_TEST_KEY",
        "decoding": {"temperature": 0, "max_tokens": 512},
        "prompts": {},
        "answers": {},
    }


def test_a_server_that_cannot_name_its_model_stops_the_scorer_before_any_sample(tmp_path):
    with ChatServer(vie_reply) as server:
        url = server.url
    ctx = context(server, tmp_path, judge_url=url, judge_model=None, judge_retries=0)
    with pytest.raises(RuntimeError, match="cannot learn which model .* serves .*name it with --judge-model"):
        Scorer(VIE, ctx)
    ctx.close()
    assert not (tmp_path / "run").exists()
