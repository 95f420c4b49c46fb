"""InstructPix2Pix and MagicBrush: published settings, the edit request mapping, scheduler and switches."""

from __future__ import annotations

import pytest
from PIL import Image

from mige_eval.baselines.instructpix2pix import InstructPix2Pix, edit_size
from mige_eval.baselines.magicbrush import MagicBrush


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ((512, 512), (512, 512)),
        ((640, 480), (512, 384)),
        ((480, 640), (384, 512)),
        ((1000, 333), (576, 192)),  # the short side is rounded up first, the long side follows
        ((300, 300), (512, 512)),  # small sources are scaled up to the resolution
    ],
)
def test_edit_size_follows_the_authors_rule(source, expected):
    assert edit_size(source, 512) == expected


def test_published_defaults():
    config = InstructPix2Pix(device="cpu").config()
    assert config["model_id"] == "timbrooks/instruct-pix2pix"
    assert (config["steps"], config["guidance_scale"], config["image_guidance_scale"]) == (100, 7.5, 1.5)
    assert (config["resolution"], config["scheduler"], config["safety_checker"]) == (512, "euler_ancestral", False)


def test_magicbrush_is_instructpix2pix_with_the_magicbrush_weights():
    ip2p, magicbrush = InstructPix2Pix(device="cpu").config(), MagicBrush(device="cpu").config()
    assert magicbrush.pop("model_id") == "vinesmsuic/magicbrush-jul7"
    ip2p.pop("model_id")
    assert magicbrush == ip2p
    assert (MagicBrush.name, MagicBrush.tasks) == ("magicbrush", frozenset({"edit"}))


def test_an_emu_edit_request_becomes_instruction_and_fitted_source(make_request):
    source = Image.new("RGB", (640, 480), "blue")
    source.paste((255, 0, 0), (0, 0, 80, 480))  # a red band on the left, which the resize must keep there
    inputs = InstructPix2Pix(device="cpu").pipeline_inputs(
        make_request(instruction="Make the sky purple", prompt="Make the sky purple", source=source)
    )
    image = inputs.pop("image")
    assert inputs == {
        "prompt": "Make the sky purple",
        "num_inference_steps": 100,
        "guidance_scale": 7.5,
        "image_guidance_scale": 1.5,
    }
    assert (image.mode, image.size) == ("RGB", (512, 384))
    assert image.getpixel((0, 200))[0] > 200 and image.getpixel((300, 200))[2] > 200


def test_a_requested_size_is_fitted_to_multiples_of_8(make_request):
    inputs = InstructPix2Pix(device="cpu").pipeline_inputs(make_request(size=(300, 202)))
    assert inputs["image"].size == (304, 200)


def test_without_a_plain_prompt_the_instruction_loses_its_placeholders(make_request, photos):
    request = make_request(prompt="", instruction="<imagehere> turn the car red", instruction_images=[photos[0]])
    assert InstructPix2Pix(device="cpu").pipeline_inputs(request)["prompt"] == "turn the car red"


def test_an_edit_without_source_image_fails_with_its_sample(make_request):
    with pytest.raises(ValueError, match="sample emu-17 has no source image"):
        InstructPix2Pix(device="cpu").pipeline_inputs(make_request(id="emu-17", source=None))


def test_placeholders_must_match_instruction_images(make_request, photos):
    request = make_request(id="mb-3", instruction="<imagehere> make it red <imagehere>", instruction_images=[photos[0]])
    with pytest.raises(ValueError, match="mb-3: the instruction has 2 <imagehere> placeholder.* but 1 instruction"):
        InstructPix2Pix(device="cpu").pipeline_inputs(request)


def test_a_task_the_adapter_lacks_is_refused_per_sample(make_request):
    with pytest.raises(ValueError, match="task 'subject'.*supports edit"):
        InstructPix2Pix(device="cpu").pipeline_inputs(make_request(task="subject"))


def test_euler_ancestral_replaces_the_shipped_scheduler_unless_asked_to_keep_it(loaded, ip2p_dir):
    assert type(loaded(InstructPix2Pix, ip2p_dir).pipeline.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    kept = loaded(InstructPix2Pix, ip2p_dir, scheduler="checkpoint").pipeline.scheduler
    assert type(kept).__name__ == "PNDMScheduler"  # what the tiny checkpoint ships


def test_the_safety_checker_is_dropped_unless_asked_for(loaded, ip2p_dir, make_request):
    assert loaded(InstructPix2Pix, ip2p_dir).pipeline.safety_checker is None
    kept = loaded(InstructPix2Pix, ip2p_dir, safety_checker=True, steps=1)
    assert type(kept.pipeline.safety_checker).__name__ == "StableDiffusionSafetyChecker"
    (image,) = kept.generate([make_request(size=(32, 32))])
    assert image.size == (32, 32)


def test_attention_slicing_switches_the_unet_to_sliced_attention(ip2p_dir, make_request):
    adapter = InstructPix2Pix(model_id=str(ip2p_dir), device="cpu", attention_slicing=True, steps=1)
    (image,) = adapter.generate([make_request(size=(32, 32))])
    processors = {type(p).__name__ for p in adapter.pipeline.unet.attn_processors.values()}
    assert processors == {"SlicedAttnProcessor"}
    assert image.size == (32, 32)
