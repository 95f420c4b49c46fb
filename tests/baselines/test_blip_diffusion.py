"""BLIP-Diffusion: DreamBench prompt mapping, class nouns, and the transformers 5 compatibility of its modules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from mige_eval.baselines.blip_diffusion import NEGATIVE_PROMPT, BlipDiffusion, blip_prompt, class_noun


def _build_prompt(prompt: str, target: str) -> str:
    """The text the pipeline writes for (prompt, target category), one repetition."""
    from diffusers import BlipDiffusionPipeline

    return BlipDiffusionPipeline._build_prompt(None, prompts=[prompt], tgt_subjects=[target], prompt_reps=1)[0]


def test_published_defaults():
    config = BlipDiffusion(device="cpu").config()
    assert config["model_id"] == "Salesforce/blipdiffusion"
    assert (config["steps"], config["guidance_scale"], config["resolution"]) == (50, 7.5, 512)
    assert (config["negative_prompt"], config["prompt_strength"], config["prompt_reps"]) == (NEGATIVE_PROMPT, 1.0, 20)


@pytest.mark.parametrize(
    ("instruction", "noun", "prompt", "target"),
    [
        ("a <imagehere> in the jungle", "dog", "in the jungle", "dog"),
        ("a red <imagehere>", "backpack", "", "red backpack"),
        ("a cube shaped <imagehere>", "stuffed animal", "", "cube shaped stuffed animal"),
        ("An <imagehere> on top of a wooden floor", "alarm clock", "on top of a wooden floor", "alarm clock"),
        ("<imagehere> with a city in the background", "cat", "with a city in the background", "cat"),
    ],
)
def test_the_instruction_splits_into_prompt_and_target_category(instruction, noun, prompt, target):
    assert blip_prompt(instruction, noun) == (prompt, target)


def test_every_dreambench_prompt_is_written_back_exactly(dreambench_root):
    """For each real DreamBench template and class, the pipeline's text is the DreamBench caption itself."""
    from mige_eval.benchmarks.dreambench import (
        PROMPTS_FILE,
        caption_from_template,
        instruction_from_template,
        parse_prompts_file,
    )

    classes, object_templates, live_templates = parse_prompts_file((dreambench_root / PROMPTS_FILE).read_text())
    for noun in sorted(set(classes.values())):
        for template in object_templates + live_templates:
            prompt, target = blip_prompt(instruction_from_template(template), noun)
            assert _build_prompt(prompt, target).strip() == caption_from_template(template, noun)


def test_a_dreambench_request_becomes_exactly_these_pipeline_inputs(make_request, dreambench_photos):
    dog = Image.open(dreambench_photos[0])
    request = make_request(
        id="dog-00",
        task="subject",
        subset="live",
        instruction="a <imagehere> in the jungle",
        instruction_images=[dog],
        prompt="a dog in the jungle",
        source=None,
        object="dog",
        meta={"class_noun": "dog"},
    )
    inputs = BlipDiffusion(device="cpu").pipeline_inputs(request)
    assert inputs.pop("reference_image").tobytes() == dog.convert("RGB").tobytes()
    assert inputs == {
        "prompt": ["in the jungle"],
        "source_subject_category": ["dog"],
        "target_subject_category": ["dog"],
        "guidance_scale": 7.5,
        "height": 512,
        "width": 512,
        "num_inference_steps": 50,
        "neg_prompt": NEGATIVE_PROMPT,
        "prompt_strength": 1.0,
        "prompt_reps": 20,
    }


def test_the_class_noun_comes_from_meta_else_the_object(make_request):
    assert class_noun(make_request(object="toy", meta={"class_noun": " stuffed  animal"})) == "stuffed animal"
    assert class_noun(make_request(object="dog", meta={})) == "dog"
    with pytest.raises(ValueError, match="sample x-1 names no subject class"):
        class_noun(make_request(id="x-1", object=None, meta={}))


def test_one_subject_photo_is_required(make_request, photos):
    request = make_request(
        id="two",
        task="subject",
        instruction="<imagehere> and <imagehere>",
        instruction_images=photos[:2],
        source=None,
        object="dog",
    )
    with pytest.raises(ValueError, match="sample two has 2 instruction images; BLIP-Diffusion takes one"):
        BlipDiffusion(device="cpu").pipeline_inputs(request)


@pytest.fixture(scope="module")
def blip_pipeline(loaded, blip_diffusion_dir):
    return loaded(BlipDiffusion, blip_diffusion_dir, steps=2, resolution=32, negative_prompt="ugly").pipeline


def test_the_text_encoder_keeps_its_causal_mask(blip_pipeline):
    """Under transformers 5 diffusers' context text encoder would attend both ways; a later token must not
    change an earlier position's embedding."""
    import torch

    ids = torch.randint(0, 300, (1, 12), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, 9] = (ids[0, 9] + 1) % 300
    ctx = torch.randn(1, 4, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = (
            blip_pipeline.text_encoder(input_ids=x, ctx_embeddings=ctx, ctx_begin_pos=[2])[0] for x in (ids, changed)
        )
    assert torch.equal(a[0, :13], b[0, :13])  # 9 tokens + 4 context embeddings before the change
    assert not torch.allclose(a[0, 13:], b[0, 13:])


def test_the_qformer_ignores_the_padding_of_shorter_class_nouns(blip_pipeline):
    import torch

    image = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        alone = blip_pipeline.qformer(image_input=image[:1], text_input=["dog"], return_dict=False)
        padded = blip_pipeline.qformer(image_input=image, text_input=["dog", "stuffed animal"], return_dict=False)
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_a_missing_qformer_tokenizer_is_named_with_its_download(tmp_path, blip_diffusion_dir):
    """The real checkpoint's Q-Former loads ``bert-base-uncased`` by name; offline and uncached, say so."""
    model = shutil.copytree(blip_diffusion_dir, tmp_path / "blipdiffusion")
    config_path = model / "qformer" / "config.json"
    config = json.loads(config_path.read_text())
    del config["tokenizer"]
    config_path.write_text(json.dumps(config))
    code = f"""
        from PIL import Image
        from mige_eval.baselines.blip_diffusion import BlipDiffusion
        from mige_eval.types import Request
        request = Request(id="dog-00", task="subject", subset="live", instruction="a <imagehere> on a beach",
                          instruction_images=[Image.new("RGB", (32, 32))], prompt="a dog on a beach", source=None,
                          mask=None, object="dog", seed=0)
        try:
            BlipDiffusion(model_id={str(model)!r}, device="cpu").generate([request])
        except Exception as exc:
            print(type(exc).__name__, "|", exc)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 0, result.stderr
    kind, message = result.stdout.strip().splitlines()[-1].split(" | ", 1)
    assert kind == "MissingWeightsError"
    assert "Q-Former" in message and "hf download bert-base-uncased" in message
