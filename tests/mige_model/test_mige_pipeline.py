"""MIGE end to end on tiny random components saved in the released layout, loaded through the public path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from mige_eval.cli import app
from mige_eval.types import Request
from mige_model import sampler
from mige_model.adapter import MIGEAdapter
from mige_model.pipeline import MIGEPipeline, build_prompt
from mige_model.text import process_caption
from tiny_mige import save_tiny_released

STEPS = 3


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    return save_tiny_released(tmp_path_factory.mktemp("mige-released"))


@pytest.fixture(scope="module")
def pipe(released) -> MIGEPipeline:
    return MIGEPipeline.from_pretrained(released)


def picture(seed: int, size=(72, 56), mode="RGB") -> Image.Image:
    image = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8))
    return image.convert(mode)


def request(sample_id: str, task: str, seed: int, **fields) -> Request:
    base = dict(
        id=sample_id,
        task=task,
        subset=fields.pop("subset", "test"),
        instruction="",
        instruction_images=[],
        prompt="",
        source=None,
        mask=None,
        object=None,
        seed=seed,
    )
    return Request(**{**base, **fields})


def test_subject_generation_end_to_end_is_deterministic_per_seed(pipe):
    photo = picture(1)
    first = pipe("a <imagehere> on the beach", [photo], seed=7, steps=STEPS)
    assert first.size == (64, 64) and first.mode == "RGB"
    again = pipe("a <imagehere> on the beach", [photo], seed=7, steps=STEPS)
    other = pipe("a <imagehere> on the beach", [photo], seed=8, steps=STEPS)
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()


def test_branches_follow_the_released_guidance(pipe, monkeypatch):
    """Subject: [null, instruction] on a blank canvas; edit: [null, null, instruction] × [0, src, src]."""
    calls = []
    dit = pipe.module.dit
    real_forward = type(dit).forward

    def recording(self, x, timestep, caption, caption_mask):
        calls.append((x.clone(), timestep.clone(), caption.clone(), caption_mask.clone()))
        return real_forward(self, x, timestep, caption, caption_mask)

    monkeypatch.setattr(type(dit), "forward", recording)
    pipe("a <imagehere> dog", [picture(2)], seed=1, steps=STEPS)
    assert len(calls) == STEPS
    times = sampler.DiscreteVPSchedule().time_steps(STEPS)[:STEPS]
    assert [float(c[1][0]) for c in calls] == pytest.approx([float((t - 1e-3) * 1000) for t in times])
    x, _, captions, masks = calls[0]
    channels = dit.config.in_channels // 2
    assert x.shape[0] == 2 and torch.equal(x[:, channels:], torch.zeros_like(x[:, channels:]))
    assert torch.equal(captions[0], dit.null_caption(1)[0]) and torch.equal(masks[0], masks[1])
    length = int(masks[1].sum())
    assert 0 < length < masks.shape[1] and masks[1, :length].all()

    calls.clear()
    source = picture(3)
    pipe("make the sky pink", [], source, task="edit", seed=1, steps=STEPS)
    x, _, captions, masks = calls[0]
    assert x.shape[0] == 3 and torch.equal(x[0, :channels], x[1, :channels])
    assert torch.equal(x[0, channels:], torch.zeros_like(x[0, channels:]))
    assert torch.equal(x[1, channels:], x[2, channels:]) and x[1, channels:].abs().sum() > 0
    assert torch.equal(captions[0], captions[1]) and torch.equal(captions[0], dit.null_caption(1)[0])
    assert not torch.equal(captions[2], captions[0]) and torch.equal(masks[0], masks[2])


def test_the_guided_noise_combines_the_branches_by_the_published_formula(pipe, monkeypatch):
    outputs = {}
    real_guide = sampler.guide_edit

    def spy(*eps, text_scale, source_scale):
        outputs["args"] = (eps, text_scale, source_scale)
        outputs["result"] = real_guide(*eps, text_scale=text_scale, source_scale=source_scale)
        return outputs["result"]

    monkeypatch.setattr(sampler, "guide_edit", spy)
    pipe("turn the image into a sketch", [], picture(4), task="edit", seed=0, steps=1, text_scale=5.0, source_scale=1.5)
    (nn, ns, ys), s_y, s_s = outputs["args"]
    assert (s_y, s_s) == (5.0, 1.5)
    assert torch.allclose(outputs["result"], nn + 1.5 * (ns - nn) + 5.0 * (ys - ns))


def test_batch_composition_does_not_change_a_sample(released):
    adapter = MIGEAdapter(model_id=str(released), device="cpu", steps=STEPS)
    a = request("a", "subject", 11, instruction="a <imagehere> in snow", instruction_images=[picture(5)])
    b = request(
        "b",
        "subject_add",
        12,
        instruction="add <imagehere> to <imagehere>",
        instruction_images=[picture(6), picture(7)],
        source=picture(7),
    )
    together = adapter.generate([a, b])
    alone = adapter.generate([b])
    reversed_order = adapter.generate([b, a])
    assert together[1].tobytes() == alone[0].tobytes() == reversed_order[0].tobytes()
    assert together[0].tobytes() == reversed_order[1].tobytes()


def record_dit_inputs(monkeypatch, dit) -> list[torch.Tensor]:
    """The ``x`` of every DiT call (noisy latent channels first, then the conditional latent)."""
    inputs = []
    real_forward = type(dit).forward

    def recording(self, x, timestep, caption, caption_mask):
        inputs.append(x.clone())
        return real_forward(self, x, timestep, caption, caption_mask)

    monkeypatch.setattr(type(dit), "forward", recording)
    return inputs


def posterior(pipe, image: Image.Image, unit_noise: torch.Tensor, fit: str = "crop") -> torch.Tensor:
    """mean + std·noise of the VAE posterior of the 512 view (here 64), computed apart from the pipeline."""
    from mige_model.images import vae_view

    dist = pipe.vae.encode(vae_view(image, pipe.config.image_size, fit=fit)[None]).latent_dist
    return dist.mean + dist.std * unit_noise


def test_edit_uses_the_reference_posterior_sample_as_the_source_latent(pipe, monkeypatch):
    """The released edit script encodes the source once (``vae_fea``) and uses that sample as the reference
    latent and, ×0.18215, as the conditional latent: one posterior draw, then the initial noise."""
    inputs = record_dit_inputs(monkeypatch, pipe.module.dit)
    source = picture(21)
    pipe("make the sky pink", [], source, task="edit", seed=5, steps=1)
    stream = torch.Generator().manual_seed(5)
    shape = (1, 4, 8, 8)
    drawn = torch.randn(shape, generator=stream)
    noise = torch.randn(shape, generator=stream)
    x = inputs[0]
    with torch.no_grad():
        expected = posterior(pipe, source, drawn) * pipe.config.vae_scale
    assert torch.equal(x[0, :4], noise[0])
    assert torch.allclose(x[1, 4:], expected[0], atol=1e-6) and torch.equal(x[1, 4:], x[2, 4:])


def test_migebench_draws_a_second_posterior_sample_of_the_source(pipe, monkeypatch):
    """MIGEBench: every reference (the source among them) gets a draw, then the source again, then the noise."""
    inputs = record_dit_inputs(monkeypatch, pipe.module.dit)
    entity, source = picture(22), picture(23)
    encoded = []
    real_encode = pipe.vae.encode
    monkeypatch.setattr(pipe.vae, "encode", lambda x: (encoded.append(x), real_encode(x))[1])
    pipe("add <imagehere> to <imagehere>", [entity, source], source, task="subject_add", seed=6, steps=1)
    assert len(encoded) == 2  # the source's second draw reuses its posterior: one VAE pass per image
    stream = torch.Generator().manual_seed(6)
    draws = [torch.randn((1, 4, 8, 8), generator=stream) for _ in range(4)]
    with torch.no_grad():
        expected = posterior(pipe, source, draws[2]) * pipe.config.vae_scale
    assert torch.allclose(inputs[0][1, 4:], expected[0], atol=1e-6)
    assert torch.equal(inputs[0][0, :4], draws[3][0])


def test_authors_noise_mode_keeps_the_scripts_two_streams(released, monkeypatch):
    """``set_env``: seed, 30 CPU draws of 1×4×S×S; posteriors from the CPU stream, noise from the device's."""
    adapter = MIGEAdapter(model_id=str(released), device="cpu", steps=1, noise="authors", authors_seed=3)
    pipe = adapter.pipeline()
    inputs = record_dit_inputs(monkeypatch, pipe.module.dit)
    latents = []
    real_sample = type(pipe).sample_posterior

    def spy(self, posterior, generator):
        latents.append(real_sample(self, posterior, generator))
        return latents[-1]

    monkeypatch.setattr(type(pipe), "sample_posterior", spy)
    photo = picture(5)
    a = request("a", "subject", 11, instruction="a <imagehere>", instruction_images=[photo])
    first, second = adapter.generate([a, a])
    assert first.tobytes() != second.tobytes()  # both streams continue from sample to sample
    posteriors, noises = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(30):
        torch.randn(1, 4, 64, 64, generator=posteriors)
    for k in range(2):
        with torch.no_grad():
            expected = posterior(pipe, photo, torch.randn((1, 4, 8, 8), generator=posteriors), fit="pad")
        assert torch.allclose(latents[k], expected, atol=1e-6)
        assert torch.equal(inputs[k][0, :4], torch.randn((1, 4, 8, 8), generator=noises)[0])
    assert adapter.config()["noise"] == "authors" and adapter.config()["authors_seed"] == 3


def test_the_vae_runs_in_float32_whatever_the_precision(pipe, monkeypatch):
    """The released scripts cast only the MIGE module to bf16; the VAE encodes and decodes in float32."""
    seen = []
    vae = pipe.vae
    real_encode, real_decode = vae.encode, vae.decode
    monkeypatch.setattr(vae, "encode", lambda x: (seen.append(x.dtype), real_encode(x))[1])
    monkeypatch.setattr(vae, "decode", lambda z: (seen.append(z.dtype), real_decode(z))[1])
    monkeypatch.setattr(pipe, "dtype", torch.bfloat16)
    latent = pipe.sample_posterior(pipe.posterior(picture(24)), torch.Generator().manual_seed(0))
    pipe.decode(latent * pipe.config.vae_scale)
    assert seen == [torch.float32, torch.float32] and latent.dtype == torch.float32


def test_odd_modes_and_sizes_are_converted(pipe):
    rgba = picture(8, (37, 53), "RGBA")
    image = pipe("a <imagehere>", [rgba], seed=2, steps=1)
    assert image.tobytes() == pipe("a <imagehere>", [rgba.convert("RGB")], seed=2, steps=1).tobytes()
    grey = picture(9, (20, 30), "L")
    assert (
        pipe("a <imagehere>", [grey], seed=2, steps=1).tobytes()
        == pipe("a <imagehere>", [grey.convert("RGB")], seed=2, steps=1).tobytes()
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda p: p("a <imagehere> and <imagehere>", [picture(1)], steps=1),
            "the prompt has 2 <imagehere> placeholder(s) but 1 image(s)",
        ),
        (
            lambda p: p("add <imagehere>", [picture(1)], task="subject_add", steps=1),
            "edits a source image: pass source=",
        ),
        (lambda p: p("x " + "<imagehere> " * 5, [picture(1)] * 5, steps=1), "MIGE takes at most 4"),
        (lambda p: p("a <imagehere>", [picture(1)], task="paint", steps=1), "unknown task 'paint'"),
        (lambda p: p("a <imagehere>", [picture(1)], picture(2), task="subject", steps=1), "does not use source="),
        (lambda p: p("make it red", [picture(1)], picture(2), task="edit", steps=1), "instruction images are not used"),
    ],
)
def test_bad_calls_say_what_is_wrong(pipe, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(pipe)


def test_half_precision_is_refused_on_the_cpu(released):
    with pytest.raises(ValueError, match="precision bf16 needs a CUDA device"):
        MIGEPipeline.from_pretrained(released, precision="bf16")


def test_prompts_per_task_follow_the_released_scripts():
    assert build_prompt("edit", "Make the photo sunny.", global_edit=False).startswith(
        "Follow the instruction to edit the image:\n "
    )
    assert (
        build_prompt("subject_add", "add <imagehere> to <imagehere>")
        == "subject-driven editing add <imagehere> to <imagehere>"
    )


def test_mige_runs_on_a_benchmark_through_the_cli(tmp_path, released, dreambench_root):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--bench",
            "dreambench",
            "--data",
            str(dreambench_root),
            "--model",
            "mige",
            "--limit",
            "2",
            "--model-arg",
            f"model_id={released}",
            "--model-arg",
            f"steps={STEPS}",
            "--model-arg",
            "device=cpu",
            "--metrics",
            "none",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["error"] for r in records] == [None, None]
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "mige" and run["generation"]["adapter_config"]["precision"] == "fp32"
    assert run["generation"]["adapter_config"]["settings"]["subject"]["steps"] == STEPS


def test_each_task_takes_the_vae_view_of_its_released_script(pipe, monkeypatch):
    """Subject generation letterboxes its references (``resize_with_padding``); editing and MIGEBench crop."""
    import mige_model.pipeline as pipeline_module

    fits = []
    real_view = pipeline_module.vae_view

    def spy(image, size, *, fit="crop"):
        fits.append(fit)
        return real_view(image, size, fit=fit)

    monkeypatch.setattr(pipeline_module, "vae_view", spy)
    pipe("a <imagehere> on the beach", [picture(30, (72, 40))], seed=0, steps=1)
    assert fits == ["pad"]
    fits.clear()
    pipe("make the sky pink", [], picture(31), task="edit", seed=0, steps=1)
    assert fits == ["crop"]
    fits.clear()
    pipe("add <imagehere> to <imagehere>", [picture(32), picture(33)], picture(33), task="subject_add", seed=0, steps=1)
    assert fits == ["crop", "crop", "crop"]


def test_mige_runs_migebench_through_the_cli(tmp_path, released):
    """The headline command, ``mige-eval run --bench migebench --model mige``, on a tiny MIGEBench copy."""
    from layouts import write_migebench

    records = [("add", 1, "a cat", (80, 64)), ("replace", 2, "a cup", (64, 64))]
    data = write_migebench(tmp_path / "MIGEBench", records, lambda kind, n, size: picture(10 * n + len(kind), size))
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
            "mige",
            "--model-arg",
            f"model_id={released}",
            "--model-arg",
            "steps=2",
            "--model-arg",
            "device=cpu",
            "--metrics",
            "none",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    written = {r["id"]: r for r in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}
    assert sorted(written) == ["add-1", "replace-2"] and not any(r["error"] for r in written.values())
    assert all(Image.open(out / "images" / f"{i}.png").size == (64, 64) for i in written)


def test_surplus_placeholders_get_empty_slots_only_when_asked(pipe, monkeypatch):
    """ "Change the image so that … in the image": two placeholders, one reference (Emu Edit idx 1629)."""
    instruction = "Change the image so that the sky in the image is pink."
    with pytest.raises(ValueError, match=r"the prompt has 2 <imagehere> placeholder\(s\) but 1 image\(s\)"):
        pipe(instruction, [], picture(40), task="edit", steps=1)
    seen = {}
    real_tokens = type(pipe.module).image_tokens

    def spy(self, pixels, latents, **kwargs):
        seen["pixels"], seen["latents"] = pixels.clone(), latents.clone()
        return real_tokens(self, pixels, latents, **kwargs)

    monkeypatch.setattr(type(pipe.module), "image_tokens", spy)
    image = pipe(instruction, [], picture(40), task="edit", steps=1, empty_slots=True)
    assert image.size == (64, 64)
    assert seen["pixels"].shape[0] == 2 and seen["latents"].shape[0] == 2
    assert not seen["pixels"][1].any() and not seen["latents"][1].any() and seen["pixels"][0].any()
    with pytest.raises(ValueError, match="the prompt has 1 <imagehere> placeholder"):
        pipe("add <imagehere>", [picture(1), picture(2)], picture(2), task="subject_add", steps=1, empty_slots=True)


def test_more_than_four_placeholders_splice_as_the_released_code_with_empty_slots(pipe, monkeypatch):
    """Five placeholders, one image: slots 1-4 spliced (one image, three empty), text up to the fourth
    placeholder, then the last segment; the text between the fourth and the fifth is dropped."""
    import mige_model.pipeline as pipeline_module

    instruction = "a<imagehere>b<imagehere>c<imagehere>dog<imagehere>cat<imagehere>snow"
    with pytest.raises(
        ValueError,
        match=r"the prompt has 5 <imagehere> placeholder\(s\) but 1 image\(s\) were given.*"
        r"or empty_slots=true",
    ):
        pipe(instruction, [picture(60)], steps=1)
    seen = {}
    real_tokens, real_ids = type(pipe.module).image_tokens, pipeline_module.tokenize_segments

    def tokens_spy(self, pixels, latents, **kwargs):
        seen["pixels"] = pixels.clone()
        return real_tokens(self, pixels, latents, **kwargs)

    def ids_spy(tokenizer, segments):
        seen["segments"] = list(segments)
        return real_ids(tokenizer, segments)

    monkeypatch.setattr(type(pipe.module), "image_tokens", tokens_spy)
    monkeypatch.setattr(pipeline_module, "tokenize_segments", ids_spy)
    pipe(instruction, [picture(60)], steps=1, empty_slots=True)
    assert seen["segments"] == [
        "follow the text instruction to generate an image with the given objects' images, "
        "preserving the subject's identity a",
        "b",
        "c",
        "dog",
        "snow",
    ]
    assert seen["pixels"].shape[0] == 4 and seen["pixels"][0].any() and not seen["pixels"][1:].any()


def test_the_qformer_reads_bf16_rounded_image_features_in_fp32_mode(pipe, monkeypatch):
    seen = {}
    real_forward = type(pipe.module.Qformer).forward

    def spy(self, query_embeds, image_embeds):
        seen["input"] = image_embeds.clone()
        return real_forward(self, query_embeds, image_embeds)

    monkeypatch.setattr(type(pipe.module.Qformer), "forward", spy)
    photo = picture(70)
    pipe("a<imagehere>", [photo], steps=1)
    from mige_model.images import qformer_view

    with torch.no_grad():
        features = pipe.module.ln_vision(pipe.module.visual_encoder(qformer_view(photo, 28)[None]))
    assert pipe.dtype == torch.float32 and seen["input"].dtype == torch.float32
    assert torch.equal(seen["input"], features.to(torch.bfloat16).float())
    assert not torch.equal(seen["input"], features)  # the rounding is there to see


def test_dreambench_reaches_mige_in_the_authors_spelling(released, dreambench_root, monkeypatch):
    """The real prompts file, through the DreamBench loader: ``"a <imagehere> in the jungle"`` for every
    other adapter, ``"a<imagehere>in the jungle"`` (their example file's form) for MIGE."""
    import re

    from mige_eval.benchmarks.dreambench import DreamBench
    from mige_model.text import SUBJECT_PREFIX

    samples = list(DreamBench(DreamBench.builtin_card(), data=dreambench_root).samples())
    templates = re.findall(
        r"'(.*)'\.format\(unique_token, class_token\)", (dreambench_root / "prompts_and_classes.txt").read_text()
    )
    authors = {re.sub(r"\s*\{0\} \{1\}\s*", "<imagehere>", t) for t in templates}
    assert "a<imagehere>in the jungle" in authors and "a cube shaped<imagehere>" in authors
    assert {s.instruction for s in samples} == {t.replace("{0} {1}", "<imagehere>") for t in templates}

    adapter = MIGEAdapter(model_id=str(released), device="cpu")
    pipe = adapter.pipeline()
    jobs = []
    monkeypatch.setattr(pipe, "generate", lambda chunk, batch_size: (jobs.extend(chunk), [picture(0)] * len(chunk))[1])
    photo = picture(1)
    adapter.generate([request(s.id, s.task, 0, instruction=s.instruction, instruction_images=[photo]) for s in samples])
    assert len(jobs) == 750
    for sample, job in zip(samples, jobs):
        written = re.sub(r"\s*<imagehere>\s*", "<imagehere>", sample.instruction)
        assert written in authors and job.prompt == process_caption(SUBJECT_PREFIX + written)
        assert job.segments == job.prompt.split("<imagehere>")
    assert jobs[0].segments[1] == "in the jungle"


def test_the_88_word_cut_counts_words_as_the_authors_do():
    """The authors' spelling makes ``a<imagehere>in`` one word: the same cut as theirs, not three words less."""
    from mige_model.text import authors_placeholder_spacing, subject_prompt

    long = "a <imagehere> in " + " ".join(f"w{i}" for i in range(100))
    prompt = subject_prompt(authors_placeholder_spacing(long))
    words = prompt.split(" ")
    # 17 words of prefix, "a<imagehere>in", then w0 … w69.
    assert len(words) == 88 and words[17] == "a<imagehere>in" and words[-1] == "w69"
    assert subject_prompt(long).split(" ")[-1] == "w67"  # the readable form would lose two more words


def test_adapter_options_for_speed_and_the_code_version(released):
    adapter = MIGEAdapter(model_id=str(released), device="cpu", batch_size=4)
    config = adapter.config()
    assert config["code_version"] == 2 and config["batch_size"] == 4
    assert "offload_text_encoder" not in config  # where T5 lives changes no pixel
    assert MIGEAdapter(model_id=str(released)).offload_text_encoder == "auto"
    assert MIGEAdapter(model_id=str(released), offload_text_encoder=False).offload_text_encoder is False
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        MIGEAdapter(model_id=str(released), batch_size=0)
    with pytest.raises(ValueError, match="offload_text_encoder must be true or false, got 'sometimes'"):
        MIGEAdapter(model_id=str(released), offload_text_encoder="sometimes")


def test_a_refused_request_fails_before_anything_is_computed(released, monkeypatch):
    """The runner then retries the chunk one request at a time: the good ones still get their images."""
    adapter = MIGEAdapter(model_id=str(released), device="cpu", steps=1)
    pipe = adapter.pipeline()
    calls = []
    monkeypatch.setattr(type(pipe), "encode", lambda self, jobs: calls.append(jobs))
    good = request("good", "subject", 1, instruction="a <imagehere>", instruction_images=[picture(1)])
    bad = request("bad", "subject", 2, instruction="a <imagehere> and <imagehere>", instruction_images=[picture(1)])
    with pytest.raises(ValueError, match=r"sample bad: subject: the prompt has 2 <imagehere> placeholder\(s\)"):
        adapter.generate([good, bad])
    assert calls == []
