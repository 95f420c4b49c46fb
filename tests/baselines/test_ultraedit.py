"""UltraEdit: the SD3 pipeline against a hand-written reference of the authors' fork, settings and request mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mige_eval.baselines.ultraedit import UltraEdit, ultraedit_pipeline_class
from mige_eval.types import Request


def _request(**fields) -> Request:
    values = dict(
        id="emu-1",
        task="edit",
        subset="global",
        instruction="Make the sky purple",
        instruction_images=[],
        prompt="Make the sky purple",
        source=None,
        mask=None,
        object=None,
        seed=5,
    )
    return Request(**{**values, **fields})


@pytest.fixture(scope="module")
def landscape(dreambench_photos) -> Image.Image:
    return Image.open(dreambench_photos[1]).convert("RGB").crop((0, 160, 1280, 1120)).resize((640, 480))


def test_published_defaults():
    config = UltraEdit(device="cpu").config()
    assert config["model_id"] == "BleachNick/SD3_UltraEdit_w_mask"
    assert (config["steps"], config["guidance_scale"], config["image_guidance_scale"]) == (50, 7.5, 1.5)
    assert (config["negative_prompt"], config["resolution"], config["mask"]) == ("", 512, "blank")
    assert "non-commercial" in UltraEdit.license and UltraEdit.description
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"mask": "region"}, "mask"),
        ({"image_guidance_scale": -1}, "image_guidance_scale"),
        ({"negative_prompt": None}, "negative_prompt"),
    ],
)
def test_bad_options_are_refused(options, named):
    with pytest.raises(ValueError, match=named):
        UltraEdit(device="cpu", **options)


def test_an_emu_edit_request_becomes_the_readme_call(landscape):
    inputs = UltraEdit(device="cpu").pipeline_inputs(_request(source=landscape))
    image, mask = inputs.pop("image"), inputs.pop("mask_image")
    assert inputs == {
        "prompt": "Make the sky purple",
        "num_inference_steps": 50,
        "guidance_scale": 7.5,
        "image_guidance_scale": 1.5,
        "negative_prompt": "",
    }
    assert image.tobytes() == landscape.resize((512, 512), Image.Resampling.BICUBIC).tobytes()
    assert (mask.mode, mask.size, mask.getextrema()) == ("RGB", (512, 512), ((255, 255),) * 3)  # free-form: blank


def test_the_benchmark_mask_is_used_only_when_asked_for(landscape):
    region = Image.new("L", (640, 480))
    region.paste(255, (0, 0, 320, 480))  # the left half
    request = _request(source=landscape, mask=region)
    assert UltraEdit(device="cpu").pipeline_inputs(request)["mask_image"].getextrema() == ((255, 255),) * 3
    mask = UltraEdit(device="cpu", mask="benchmark").pipeline_inputs(request)["mask_image"]
    assert mask.size == (512, 512) and mask.getpixel((10, 256)) == (255,) * 3 and mask.getpixel((500, 256)) == (0,) * 3
    no_region = UltraEdit(device="cpu", mask="benchmark").pipeline_inputs(_request(source=landscape))["mask_image"]
    assert no_region.getextrema() == ((255, 255),) * 3  # Emu Edit has none: blank
    assert UltraEdit(device="cpu", mask="none").pipeline_inputs(request)["mask_image"] is None


def test_an_edit_without_source_and_other_tasks_are_refused():
    with pytest.raises(ValueError, match="sample emu-1 has no source image"):
        UltraEdit(device="cpu").pipeline_inputs(_request())
    with pytest.raises(ValueError, match="task 'subject'"):
        UltraEdit(device="cpu").pipeline_inputs(_request(task="subject"))


def _reference(pipe, *, prompt, image, mask, steps, guidance, image_guidance, negative, seed):
    """The fork's editing call written out: three guidance branches in one batch, raw VAE latents of the source and
    the mask concatenated on channels, Euler steps on the scheduler's sigmas, decoding without the SD3 shift."""
    import torch

    embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
        prompt=prompt,
        prompt_2=None,
        prompt_3=None,
        do_classifier_free_guidance=True,
        negative_prompt=negative,
        max_sequence_length=77,
    )
    context = torch.cat([embeds, negative_embeds, negative_embeds])
    pooled = torch.cat([pooled, negative_pooled, negative_pooled])

    def raw_latents(picture):
        pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0).permute(2, 0, 1)[None] * 2.0 - 1.0
        latents = pipe.vae.encode(pixels).latent_dist.mean
        return torch.cat([latents, latents, torch.zeros_like(latents)])

    conditions = torch.cat([raw_latents(image), raw_latents(mask)], dim=1)
    height, width = conditions.shape[-2:]
    latents = torch.randn((1, 4, height, width), generator=torch.Generator("cpu").manual_seed(seed))
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            model_input = torch.cat([torch.cat([latents] * 3), conditions], dim=1)
            out = pipe.transformer(
                hidden_states=model_input,
                timestep=t.expand(3),
                encoder_hidden_states=context,
                pooled_projections=pooled,
                return_dict=False,
            )[0]
            text, image_only, uncond = out.chunk(3)
            velocity = uncond + guidance * (text - image_only) + image_guidance * (image_only - uncond)
            latents = latents + (scheduler.sigmas[i + 1] - scheduler.sigmas[i]) * velocity
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    pixels = ((decoded[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    return Image.fromarray(pixels)


def test_the_pipeline_is_the_forks_call_written_out(ultraedit_dir, landscape):
    adapter = UltraEdit(model_id=str(ultraedit_dir), device="cpu", steps=3, resolution=64)
    request = _request(source=landscape)
    (image,) = adapter.generate([request])
    inputs = adapter.pipeline_inputs(request)
    expected = _reference(
        adapter.pipeline,
        prompt=inputs["prompt"],
        image=inputs["image"],
        mask=inputs["mask_image"],
        steps=3,
        guidance=7.5,
        image_guidance=1.5,
        negative="",
        seed=request.seed,
    )
    assert image.size == expected.size == (64, 64)
    assert np.array_equal(np.asarray(image), np.asarray(expected))


def test_a_checkpoint_and_mask_option_that_disagree_are_named(ultraedit_dir, landscape):
    adapter = UltraEdit(model_id=str(ultraedit_dir), device="cpu", steps=1, resolution=64, mask="none")
    with pytest.raises(ValueError, match=r"takes 12 input channels: 4 noise \+ 4 image \+ 4 mask.*mask=blank"):
        adapter.generate([_request(source=landscape)])


def test_the_published_checkpoint_layout_loads_into_the_sd3_pipeline(ultraedit_dir):
    """The hub folder names the fork's pipeline class, which diffusers lacks; its components load all the same."""
    assert (
        json.loads((ultraedit_dir / "model_index.json").read_text())["_class_name"]
        == "StableDiffusion3InstructPix2PixPipeline"
    )
    pipe = ultraedit_pipeline_class().from_pretrained(ultraedit_dir)
    assert pipe.transformer.config.in_channels == 3 * pipe.vae.config.latent_channels
