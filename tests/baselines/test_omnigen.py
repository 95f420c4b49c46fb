"""OmniGen: placeholders on MIGEBench, DreamBench and Emu Edit requests, sizes, the torchvision-free processor."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from PIL import Image

from mige_eval.baselines.omnigen import OmniGen, numpy_processor_class, omnigen_prompt, torchvision_free_processor


def _inputs(request, **options):
    return OmniGen(device="cpu", **options).pipeline_inputs(request)


def test_published_defaults():
    config = OmniGen(device="cpu").config()
    assert config["model_id"] == "Shitao/OmniGen-v1-diffusers"
    assert (config["steps"], config["guidance_scale"], config["img_guidance_scale"]) == (50, 2.5, 1.6)
    assert (config["resolution"], config["max_input_image_size"], config["attention_slicing"]) == (1024, 1024, False)


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("a <imagehere> in the jungle", "a <img><|image_1|></img> in the jungle"),
        (
            "add <imagehere> in the bottom middle of <imagehere>",
            "add <img><|image_1|></img> in the bottom middle of <img><|image_2|></img>",
        ),
        (
            "replace the cup in <ImageHere> with <IMAGEHERE>.",
            "replace the cup in <img><|image_1|></img> with <img><|image_2|></img>.",
        ),
        ("<imagehere><imagehere>", "<img><|image_1|></img><img><|image_2|></img>"),
    ],
)
def test_placeholders_become_numbered_image_tags(instruction, expected):
    assert omnigen_prompt(instruction) == expected


def test_migebench_add_keeps_entity_then_source(make_request, photos):
    entity, source = photos[2], photos[0]
    inputs = _inputs(
        make_request(
            task="subject_add",
            instruction="add <imagehere> in the bottom middle of <imagehere>",
            instruction_images=[entity, source],
            source=source,
        )
    )
    assert inputs["prompt"] == "add <img><|image_1|></img> in the bottom middle of <img><|image_2|></img>"
    assert [im.tobytes() for im in inputs["input_images"]] == [entity.tobytes(), source.tobytes()]
    assert (inputs["width"], inputs["height"]) == (48, 32)  # the 48x40 source after OmniGen's crop to 16s


def test_migebench_replace_keeps_source_then_entity(make_request, photos):
    entity, source = photos[2], photos[1]
    inputs = _inputs(
        make_request(
            task="subject_replace",
            instruction="replace the cup in <imagehere> with <imagehere>",
            instruction_images=[source, entity],
            source=source,
        )
    )
    assert inputs["prompt"] == "replace the cup in <img><|image_1|></img> with <img><|image_2|></img>"
    assert [im.size for im in inputs["input_images"]] == [source.size, entity.size]


def test_dreambench_subject_on_a_blank_canvas_uses_the_resolution(make_request, dreambench_photos):
    dog = Image.open(dreambench_photos[0])
    inputs = _inputs(
        make_request(
            task="subject",
            instruction="a <imagehere> in the jungle",
            instruction_images=[dog],
            prompt="a dog in the jungle",
            source=None,
        ),
        resolution=512,
    )
    assert inputs["prompt"] == "a <img><|image_1|></img> in the jungle"
    assert inputs["input_images"][0].tobytes() == dog.convert("RGB").tobytes()
    assert (inputs["width"], inputs["height"]) == (512, 512)


def test_an_edit_without_placeholders_puts_the_source_first(make_request, photos):
    inputs = _inputs(make_request(instruction="Make the sky purple", prompt="Make the sky purple"))
    assert inputs.pop("prompt") == "<img><|image_1|></img> Make the sky purple"
    assert [im.tobytes() for im in inputs.pop("input_images")] == [photos[0].tobytes()]
    assert inputs == {
        "height": 32,
        "width": 48,
        "num_inference_steps": 50,
        "guidance_scale": 2.5,
        "img_guidance_scale": 1.6,
        "max_input_image_size": 1024,
        "use_input_image_size_as_output": False,
    }


def test_a_requested_size_is_rounded_to_multiples_of_16(make_request):
    inputs = _inputs(make_request(size=(500, 260)))
    assert (inputs["width"], inputs["height"]) == (496, 256)


def test_a_large_source_is_capped_by_max_input_image_size(make_request):
    inputs = _inputs(make_request(source=Image.new("RGB", (2000, 1000))), max_input_image_size=512)
    assert (inputs["width"], inputs["height"]) == (512, 256)


def test_placeholder_count_must_match_the_images(make_request, photos):
    request = make_request(
        id="mige-add-9",
        task="subject_add",
        instruction="add <imagehere> to the table",
        instruction_images=[photos[2], photos[0]],
    )
    with pytest.raises(ValueError, match="mige-add-9: the instruction has 1 <imagehere> placeholder.* but 2"):
        _inputs(request)


def test_a_request_with_no_image_at_all_is_refused(make_request):
    with pytest.raises(ValueError, match="sample s0 has neither instruction images nor a source image"):
        _inputs(make_request(id="s0", task="subject", instruction="a dog", source=None))


def test_the_numpy_processor_scales_like_to_tensor_and_normalize(photos):
    processor = numpy_processor_class()(None, max_image_size=1024)
    tensor = processor.process_image(photos[0])  # 48x40: cropped to 48x32
    expected = (np.asarray(photos[0])[4:36].astype(np.float32) / 255 - 0.5) / 0.5
    assert tuple(tensor.shape) == (3, 32, 48)
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), expected)


def test_the_loaded_pipeline_uses_it_and_the_diffusers_module_is_left_as_found(loaded, omnigen_dir):
    from diffusers import OmniGenPipeline

    module = importlib.import_module(OmniGenPipeline.__module__)
    before = getattr(module, "OmniGenMultiModalProcessor", None)
    pipe = loaded(OmniGen, omnigen_dir, steps=2, resolution=32).pipeline
    assert type(pipe.multimodal_processor) is numpy_processor_class()
    with torchvision_free_processor():
        assert module.OmniGenMultiModalProcessor is numpy_processor_class()
    assert getattr(module, "OmniGenMultiModalProcessor", None) is before


def test_generation_leaves_the_global_random_state_alone(loaded, omnigen_dir, make_request):
    import torch

    adapter = loaded(OmniGen, omnigen_dir, steps=2, resolution=32)
    adapter.pipeline  # noqa: B018 - load first: loading itself may draw random numbers
    state = torch.get_rng_state()
    adapter.generate([make_request(size=(32, 32))])
    assert torch.equal(torch.get_rng_state(), state)
