"""The local judge on tiny random Qwen2.5-VL / Qwen3-VL checkpoints from disk: inputs, batching, noise, errors."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from hub_cache import offline_hub
from mige_eval.errors import MissingWeightsError
from mige_eval.images import ImageRef
from mige_eval.metrics.base import ScoringContext, ScoringOptions
from mige_eval.metrics.checkpoint import weights_digest
from mige_eval.metrics.judge import judge_for
from mige_eval.metrics.judge_local import LocalJudge
from mige_eval.metrics.judge_prompts import load_prompt, prepare_dreambench_plus, prepare_gedit
from mige_eval.metrics.viescore import VieO
from mige_eval.presets import Presets
from mige_eval.scoring import Scorer
from mige_eval.types import Sample
from tiny_judge import VISION

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def noise(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """qwen_vl_utils' published rule (GEdit-Bench's image path), written out for the check."""
    h, w = max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h, w


def conversations():
    sizes = [(40, 30), (90, 60), (30, 80)]
    convs = [
        load_prompt("vie_sc").render(
            prepare_gedit(noise(i, size), noise(10 + i, (25, 25))), {"instruction": "make it blue" + " please" * i}
        )
        for i, size in enumerate(sizes)
    ]
    convs.append(
        load_prompt("dbp_pf").render({"output": prepare_dreambench_plus(noise(9, (70, 50)))}, {"prompt": "a dog"})
    )
    return convs, sizes


@pytest.fixture(params=["qwen2_5_vl", "qwen3_vl"])
def tiny_judge(request):
    """(kind, folder) of each tiny judge architecture."""
    return request.param, request.getfixturevalue({"qwen2_5_vl": "tiny_qwen", "qwen3_vl": "tiny_qwen3"}[request.param])


def test_inputs_hold_each_image_at_the_qwen_grid_left_padded(tiny_judge):
    kind, folder = tiny_judge
    judge = LocalJudge(str(folder), device="cpu", batch_size=4)
    assert judge.prepare().config.model_type == kind
    convs, sizes = conversations()
    inputs = judge.inputs(convs)
    image_id = judge.config.image_token_id
    shown = [size for size in sizes for _ in range(2)] + [(512, 512)]  # VIE: source and output at the source's size
    patch, low, high = VISION[kind]
    grids = [(1, *(side // patch for side in smart_resize(h, w, 2 * patch, low, high))) for w, h in shown]
    assert inputs["image_grid_thw"].tolist() == [list(g) for g in grids]
    assert inputs["pixel_values"].shape[0] == sum(t * h * w for t, h, w in grids)
    tokens = [h * w // 4 for _, h, w in grids]
    per_row = (inputs["input_ids"] == image_id).sum(-1).tolist()
    assert per_row == [tokens[0] + tokens[1], tokens[2] + tokens[3], tokens[4] + tokens[5], tokens[6]]
    mask = inputs["attention_mask"]
    assert mask[:, -1].all() and (mask.sum(-1) < mask.shape[1]).any()  # padding sits on the left
    for row in range(4):
        assert mask[row, : mask.shape[1] - int(mask[row].sum())].sum() == 0


def test_batched_answers_equal_one_by_one_answers(tiny_judge):
    folder = tiny_judge[1]
    convs, _ = conversations()
    arrived = {}
    batched = LocalJudge(str(folder), device="cpu", batch_size=4, max_new_tokens=12).answer(
        convs, lambda i, text: arrived.__setitem__(i, text)
    )
    single = LocalJudge(str(folder), device="cpu", batch_size=1, max_new_tokens=12).answer(convs, lambda i, t: None)
    assert batched == single and arrived == dict(enumerate(batched))
    assert len(set(batched)) == 4  # the answers depend on what the judge is shown


def local_context(tiny_qwen, tmp_path, **options) -> ScoringContext:
    opts = dict(judge_model=str(tiny_qwen), device="cpu", cache_dir=tmp_path / "cache", judge_max_tokens=16)
    return ScoringContext(Presets.from_names([]), ScoringOptions(**{**opts, **options}), run_dir=tmp_path / "run")


def test_noise_answers_come_back_as_counted_parse_failures_and_are_cached(tiny_qwen, tmp_path):
    photo = ImageRef.from_bytes(_png(noise(1, (48, 40))), "src.png")
    samples = [
        Sample(
            id=f"s{i}",
            task="edit",
            subset="test",
            instruction=f"edit number {i}",
            prompt=f"edit number {i}",
            source=photo,
        )
        for i in range(3)
    ]
    outputs = [noise(20 + i, (32, 32)) for i in range(3)]
    ctx = local_context(tiny_qwen, tmp_path)
    scorer = Scorer(["vie_sc", "vie_pq", "vie_o"], ctx)
    results = scorer.score(samples, outputs)
    judge = judge_for(ctx)
    assert judge.counts == {"asked": 6}
    scorer.close()
    for result in results:
        assert result.error is None and result.metrics == {"vie_sc": None, "vie_pq": None, "vie_o": None}
        assert result.flags == ["vie_sc_unparsed", "vie_pq_unparsed"]
    lines = [json.loads(line) for line in (tmp_path / "run" / "judgements.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and all(r["scores"] is None and r["problem"] and r["answer"] for r in lines)
    assert {r["judge"] for r in lines} == {f"local@sha256:{weights_digest(tiny_qwen)}"}

    again_ctx = local_context(tiny_qwen, tmp_path)
    again = Scorer(["vie_sc", "vie_pq", "vie_o"], again_ctx)
    assert [r.metrics for r in again.score(samples, outputs)] == [r.metrics for r in results]
    assert judge_for(again_ctx).backend._parts is None  # every answer cached: the weights never load
    assert judge_for(again_ctx).counts == {"cached": 6}
    again.close()


def _png(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_settings_identify_the_checkpoint_without_loading_it(tiny_qwen, tmp_path):
    ctx = local_context(tiny_qwen, tmp_path, judge_max_tokens=512)
    metric = VieO(ctx)
    assert metric.settings() == {
        "judge": {
            "kind": "local",
            "model": "local",
            "revision": "sha256:" + weights_digest(tiny_qwen),
            "dtype": "fp32",
            "decoding": {"do_sample": False, "num_beams": 1, "max_new_tokens": 512, "repetition_penalty": 1.05},
        },
        "prompts": {"vie_sc": 1, "vie_pq": 1},
    }
    assert judge_for(ctx).backend._parts is None
    described = judge_for(ctx).describe()
    assert described["path"] == str(tiny_qwen) and described["device"] == "cpu"
    ctx.close()


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch, tiny_qwen):
    return offline_hub(tmp_path, monkeypatch, tiny_qwen, "tiny-org/qwen-judge", COMMIT)


def test_hub_ids_resolve_offline_with_their_commit_and_absent_ones_name_the_fetch_command(hub_cache):
    identity = LocalJudge("tiny-org/qwen-judge", device="cpu").identity()
    assert identity["model"] == "tiny-org/qwen-judge" and identity["revision"] == COMMIT
    with pytest.raises(MissingWeightsError) as err:
        LocalJudge("tiny-org/absent-judge", device="cpu").prepare()
    text = str(err.value)
    assert "--judge-model tiny-org/absent-judge" in text and "'tiny-org/absent-judge' is not available locally" in text
    assert "hf download tiny-org/absent-judge" in text
    assert "HF_HUB_OFFLINE" in text and "--clip-model" not in text


def test_wrong_checkpoints_and_settings_are_refused_before_any_weights_load(tiny_qwen, tiny_clip, tmp_path):
    with pytest.raises(ValueError, match="'clip' checkpoint.*--judge-url"):
        LocalJudge(str(tiny_clip), device="cpu").prepare()
    with pytest.raises(MissingWeightsError, match="no config.json"):
        LocalJudge(str(tmp_path), device="cpu").prepare()
    with pytest.raises(ValueError, match="needs a CUDA device"):
        LocalJudge(str(tiny_qwen), device="cpu", dtype="bf16").prepare()
    with pytest.raises(ValueError, match="unknown dtype"):
        LocalJudge(str(tiny_qwen), device="cpu", dtype="fp8").prepare()
    textless = shutil.copytree(tiny_qwen, tmp_path / "textless")
    (textless / "chat_template.json").write_text(json.dumps({"chat_template": "{{ messages[0]['role'] }}"}))
    judge = LocalJudge(str(textless), device="cpu")
    with pytest.raises(RuntimeError, match="placed 0 image tokens for 2 images"):
        judge.inputs(conversations()[0][:1])


def test_an_interrupted_run_keeps_every_answer_it_received(tiny_qwen, tmp_path, monkeypatch):
    photo = ImageRef.from_bytes(_png(noise(2, (40, 40))), "src.png")
    samples = [
        Sample(id=f"s{i}", task="edit", subset="test", instruction=f"edit {i}", prompt=f"edit {i}", source=photo)
        for i in range(3)
    ]
    outputs = [noise(30 + i, (32, 32)) for i in range(3)]
    generate, calls = LocalJudge._generate, []

    def interrupted(self, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return generate(self, batch)

    monkeypatch.setattr(LocalJudge, "_generate", interrupted)
    scorer = Scorer(["vie_sc"], local_context(tiny_qwen, tmp_path, batch_size=1))
    with pytest.raises(KeyboardInterrupt):
        scorer.score(samples, outputs)
    scorer.close()
    monkeypatch.setattr(LocalJudge, "_generate", generate)
    ctx = local_context(tiny_qwen, tmp_path, batch_size=1)
    resumed = Scorer(["vie_sc"], ctx)
    results = resumed.score(samples, outputs)
    assert judge_for(ctx).counts == {"cached": 2, "asked": 1}  # only the question cut off is asked again
    assert all(r.error is None and r.flags == ["vie_sc_unparsed"] for r in results)
    resumed.close()
