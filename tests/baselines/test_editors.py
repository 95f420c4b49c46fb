"""Today's reference-image editors: published settings, prompt and image mapping per task, sizes, bad inputs.

Everything here is checked without weights: ``pipeline_inputs`` is exactly what each pipeline call receives.
The tiny-pipeline runs are in test_editors_tiny.py.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from mige_eval.baselines import _diffusers
from mige_eval.baselines.flux2 import Flux2, Flux2Klein, flux2_size
from mige_eval.baselines.flux_kontext import KONTEXT_RESOLUTIONS, FluxKontext, kontext_size
from mige_eval.baselines.longcat_image_edit import LongCatImageEdit, longcat_size
from mige_eval.baselines.qwen_image_edit import QwenImageEdit, qwen_size
from mige_eval.baselines.qwen_image_edit_plus import QwenImageEditPlus
from mige_eval.baselines.ultraedit import UltraEdit
from mige_eval.errors import MissingDependencyError
from mige_eval.registry import ADAPTERS
from mige_eval.types import TASKS, Request
from pipeline_inputs import comparable

EDITORS = [FluxKontext, QwenImageEdit, QwenImageEditPlus, Flux2, Flux2Klein, LongCatImageEdit]
ALL_TASKS = set(TASKS)
TASKS_OF = {
    "flux-kontext": {"edit", "subject"},
    "qwen-image-edit": {"edit"},
    "qwen-image-edit-plus": ALL_TASKS,
    "flux2": ALL_TASKS,
    "flux2-klein": ALL_TASKS,
    "longcat-image-edit": {"edit"},
}
DEFAULTS = {
    "flux-kontext": {"model_id": "black-forest-labs/FLUX.1-Kontext-dev", "steps": 28, "guidance_scale": 2.5},
    "qwen-image-edit": {"model_id": "Qwen/Qwen-Image-Edit", "steps": 50, "true_cfg_scale": 4.0, "negative_prompt": " "},
    "qwen-image-edit-plus": {
        "model_id": "Qwen/Qwen-Image-Edit-2511",
        "steps": 40,
        "true_cfg_scale": 4.0,
        "guidance_scale": 1.0,
        "negative_prompt": " ",
    },
    "flux2": {"model_id": "black-forest-labs/FLUX.2-dev", "steps": 50, "guidance_scale": 4.0},
    "flux2-klein": {"model_id": "black-forest-labs/FLUX.2-klein-4B", "steps": 4, "guidance_scale": 1.0},
    "longcat-image-edit": {
        "model_id": "meituan-longcat/LongCat-Image-Edit",
        "steps": 50,
        "guidance_scale": 4.5,
        "negative_prompt": "",
    },
}
MAX_IMAGES = {
    "flux-kontext": 1,
    "qwen-image-edit": 1,
    "qwen-image-edit-plus": 3,
    "flux2": 6,
    "flux2-klein": 4,
    "longcat-image-edit": 1,
}


def _request(**fields) -> Request:
    values = dict(
        id="s1",
        task="edit",
        subset="",
        instruction="Make the sky purple",
        instruction_images=[],
        prompt="Make the sky purple",
        source=None,
        mask=None,
        object=None,
        seed=3,
        size=None,
        meta={},
    )
    values.update(fields)
    return Request(**values)


@pytest.fixture(scope="module")
def dog(dreambench_photos) -> Image.Image:
    return Image.open(dreambench_photos[0]).convert("RGB")  # 780 x 780


@pytest.fixture(scope="module")
def landscape(dreambench_photos) -> Image.Image:
    """A 640 x 480 photo (the cat, cropped): a source whose aspect ratio the sizes must follow."""
    return Image.open(dreambench_photos[1]).convert("RGB").crop((0, 160, 1280, 1120)).resize((640, 480))


@pytest.fixture(scope="module")
def entity(dreambench_photos) -> Image.Image:
    return Image.open(dreambench_photos[2]).convert("RGB")  # the backpack, 767 x 767


# -- registry, options, config -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_registry_tasks_licence_and_keyword_only_options(cls):
    assert ADAPTERS.load(cls.name) is cls
    assert cls.tasks == TASKS_OF[cls.name]
    assert cls.description and cls.license
    params = inspect.signature(cls).parameters
    common = {"model_id", "revision", "device", "dtype", "steps", "cpu_offload", "group_offload", "quantize"}
    assert common <= set(params)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


def test_non_commercial_licences_say_so():
    assert "non-commercial" in FluxKontext.license.lower()
    assert "non-commercial" in Flux2.license.lower()
    assert Flux2Klein.license.startswith("Apache-2.0") and "non-commercial" in Flux2Klein.license.lower()
    assert [c.license for c in (QwenImageEdit, QwenImageEditPlus, LongCatImageEdit)] == ["Apache-2.0"] * 3


@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_published_defaults_and_a_json_config_holding_every_option(cls):
    config = cls(device="cpu").config()
    assert json.loads(json.dumps(config)) == config
    assert set(inspect.signature(cls).parameters) <= set(config)
    assert {k: config[k] for k in DEFAULTS[cls.name]} == DEFAULTS[cls.name]
    assert (config["revision"], config["device"], config["dtype"]) == ("main", "cpu", "fp32")
    assert (config["cpu_offload"], config["group_offload"], config["quantize"]) == (False, False, "none")
    assert cls.max_images == MAX_IMAGES[cls.name]


@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_dtype_auto_is_bf16_on_cuda(cls, monkeypatch):
    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    assert cls(device="auto").config()["dtype"] == "bf16"
    assert cls(device="auto", dtype="fp16").config()["dtype"] == "fp16"


def test_the_qwen_based_adapters_record_how_the_text_encoder_sees_images():
    expected = "torchvision" if _has_torchvision() else "pil"
    for cls in (QwenImageEdit, QwenImageEditPlus, LongCatImageEdit):
        assert cls(device="cpu").config()["vision_preprocessing"] == expected


def _has_torchvision() -> bool:
    import importlib.util

    return importlib.util.find_spec("torchvision") is not None


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"steps": 0}, "steps"),
        ({"dtype": "bf16"}, "bf16"),  # half precision on the CPU
        ({"cpu_offload": True}, "cpu_offload"),
        ({"group_offload": True}, "group_offload"),  # needs CUDA
        ({"group_offload": "yes"}, "group_offload"),
        ({"quantize": "int4"}, "quantize"),
        ({"quantize": "bnb-4bit"}, "quantize=bnb-4bit.*CUDA"),
        ({"model_id": ""}, "model_id"),
    ],
)
@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_bad_option_values_are_refused_with_the_option_named(cls, options, named):
    with pytest.raises(ValueError, match=named):
        cls(**{"device": "cpu", **options})


@pytest.mark.parametrize(
    ("cls", "options", "named"),
    [
        (FluxKontext, {"guidance_scale": -1}, "guidance_scale"),
        (QwenImageEdit, {"true_cfg_scale": "high"}, "true_cfg_scale"),
        (QwenImageEdit, {"negative_prompt": None}, "negative_prompt"),
        (QwenImageEditPlus, {"guidance_scale": True}, "guidance_scale"),
        (Flux2, {"resolution": 0}, "resolution"),
        (LongCatImageEdit, {"negative_prompt": 3}, "negative_prompt"),
    ],
)
def test_bad_model_specific_options_are_refused(cls, options, named):
    with pytest.raises(ValueError, match=named):
        cls(device="cpu", **options)


def test_offload_modes_exclude_each_other(monkeypatch):
    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    with pytest.raises(ValueError, match="cpu_offload and group_offload.*choose one"):
        Flux2(device="cuda", cpu_offload=True, group_offload=True)


def test_adapters_without_quantisable_components_refuse_quantize(monkeypatch):
    class Unquantisable(_diffusers.DiffusersAdapter):
        name = "unquantisable"

        def _inputs(self, request):
            return {}

    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    with pytest.raises(ValueError, match="the unquantisable adapter has no quantised loading"):
        Unquantisable(
            model_id=None,
            revision="main",
            device="cuda",
            dtype="auto",
            steps=1,
            resolution=64,
            cpu_offload=False,
            attention_slicing=False,
            quantize="bnb-8bit",
        )


@pytest.mark.parametrize(
    ("quantize", "backend", "kwargs"),
    [
        ("bnb-4bit", "bitsandbytes_4bit", {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}),
        ("bnb-8bit", "bitsandbytes_8bit", {"load_in_8bit": True}),
    ],
)
def test_quantize_builds_diffusers_pipeline_quantization_for_the_large_components(
    monkeypatch, quantize, backend, kwargs
):
    import torch

    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(_diffusers, "require", lambda module, **_: None)  # as if bitsandbytes were installed
    config = Flux2(device="cuda", quantize=quantize).quantization_config()
    assert config.quant_backend == backend
    assert config.components_to_quantize == ["transformer", "text_encoder"]
    if quantize == "bnb-4bit":
        kwargs = {**kwargs, "bnb_4bit_compute_dtype": torch.bfloat16}
    assert config.quant_kwargs == kwargs
    assert FluxKontext(device="cuda", quantize=quantize).quantization_config().components_to_quantize == [
        "transformer",
        "text_encoder_2",
    ]
    assert Flux2(device="cuda").quantization_config() is None


def test_quantize_without_bitsandbytes_names_the_extra(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed")
    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    with pytest.raises(MissingDependencyError, match=r"bitsandbytes.*pip install 'mige-eval\[quantization\]'"):
        QwenImageEditPlus(device="cuda", quantize="bnb-4bit").quantization_config()


class _RecordingPipeline:
    """Stands in for a loaded pipeline: records the memory calls the adapter makes."""

    def __init__(self):
        self.calls = []

    def enable_group_offload(self, **kwargs):
        self.calls.append(("enable_group_offload", kwargs))

    def enable_model_cpu_offload(self, **kwargs):
        self.calls.append(("enable_model_cpu_offload", kwargs))

    def to(self, device):
        self.calls.append(("to", device))

    def set_progress_bar_config(self, **kwargs):
        pass


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"group_offload": True}, "enable_group_offload"),
        ({"cpu_offload": True}, "enable_model_cpu_offload"),
        ({}, "to"),
    ],
)
def test_memory_modes_call_the_diffusers_hooks(monkeypatch, options, expected):
    import torch

    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(_diffusers, "require", lambda module, **_: None)
    pipe = _RecordingPipeline()
    loads = []
    monkeypatch.setattr(_diffusers, "load_pretrained", lambda cls, model_id, **kw: loads.append(kw) or pipe)
    adapter = Flux2Klein(device="cuda", model_id="/models/klein", **options)
    monkeypatch.setattr(adapter, "_pipeline_type", lambda: object)
    assert adapter.pipeline is pipe
    ((name, args),) = pipe.calls
    assert name == expected
    if expected == "enable_group_offload":
        assert args == {
            "onload_device": torch.device("cuda"),
            "offload_device": torch.device("cpu"),
            "offload_type": "leaf_level",
            "use_stream": True,
        }
    assert loads[0]["torch_dtype"] is torch.bfloat16 and "quantization_config" not in loads[0]


# -- sizes -------------------------------------------------------------------------------------------------------


def test_the_kontext_table_is_black_forest_labs_and_diffusers_own():
    from diffusers.pipelines.flux.pipeline_flux_kontext import PREFERRED_KONTEXT_RESOLUTIONS

    assert list(KONTEXT_RESOLUTIONS) == [tuple(r) for r in PREFERRED_KONTEXT_RESOLUTIONS]


@pytest.mark.parametrize(
    ("reference", "resolution", "expected"),
    [
        ((640, 480), 1024, (1184, 880)),  # 4:3 -> 1184/880 = 1.345 is nearest
        ((480, 640), 1024, (880, 1184)),
        ((780, 780), 1024, (1024, 1024)),
        ((3000, 1000), 1024, (1568, 672)),  # wider than the table: its widest
        ((1000, 1000), 512, (512, 512)),
        ((640, 480), 64, (64, 48)),  # 1184 * 64/1024 = 74 -> 64; 880 * 64/1024 = 55 -> 48
    ],
)
def test_kontext_size_is_the_nearest_trained_resolution(reference, resolution, expected):
    assert kontext_size(reference, resolution) == expected


@pytest.mark.parametrize("reference", [(640, 480), (480, 640), (1000, 333), (780, 780), (1282, 1100), (97, 55)])
def test_qwen_size_is_diffusers_own_calculation(reference):
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit import calculate_dimensions

    width, height, _ = calculate_dimensions(1024 * 1024, reference[0] / reference[1])
    assert qwen_size(reference) == (width, height)


def test_qwen_size_by_hand():
    # 640 x 480: sqrt(1048576 * 4/3) = 1182.4 -> 37 * 32; 1182.4 / (4/3) = 886.8 -> 28 * 32
    assert qwen_size((640, 480)) == (1184, 896)
    assert qwen_size((640, 480), 64) == (64, 64)  # 73.9 -> 64 (2.3 -> 2), 55.4 -> 64 (1.7 -> 2)


@pytest.mark.parametrize("reference", [(640, 480), (480, 640), (1000, 333), (780, 780), (1282, 1100)])
def test_longcat_size_is_diffusers_own_calculation(reference):
    from diffusers.pipelines.longcat_image.pipeline_longcat_image_edit import calculate_dimensions

    assert longcat_size(reference) == calculate_dimensions(1024 * 1024, reference[0] / reference[1])
    assert longcat_size((640, 480)) == (1184, 896)  # 1182.4 and 886.8, rounded up to multiples of 16


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ((640, 480), (640, 480)),  # under a megapixel: kept, already multiples of 16
        ((767, 767), (752, 752)),  # floored to multiples of 16
        ((2048, 2048), (1024, 1024)),  # scaled to a megapixel
        ((1500, 1000), (1248, 832)),  # sqrt(1048576 / 1.5e6) = 0.836: 1254 x 836 -> floored
    ],
)
def test_flux2_size_caps_at_a_megapixel_and_floors_to_16(reference, expected):
    assert flux2_size(reference) == expected


def test_flux2_size_matches_diffusers_resize():
    from diffusers.pipelines.flux2.image_processor import Flux2ImageProcessor

    for reference in [(1500, 1000), (2048, 1536), (1920, 1080)]:
        resized = Flux2ImageProcessor._resize_to_target_area(Image.new("RGB", reference), 1024 * 1024).size
        assert flux2_size(reference) == tuple(side // 16 * 16 for side in resized)


# -- what each pipeline call receives ------------------------------------------------------------------------------


def _dreambench(dog, **fields):
    values = dict(
        id="dog-00",
        task="subject",
        subset="live",
        instruction="a <imagehere> in the jungle",
        instruction_images=[dog],
        prompt="a dog in the jungle",
        object="dog",
        meta={"class_noun": "dog"},
    )
    return _request(**{**values, **fields})


def _add(entity, source):
    return _request(
        id="add-21",
        task="subject_add",
        subset="add",
        instruction="add <imagehere> in the bottom middle of <imagehere>",
        instruction_images=[entity, source],
        prompt="add a backpack",
        source=source,
        object="backpack",
        meta={"subject_index": 0},
    )


def _replace(entity, source):
    return _request(
        id="replace-4",
        task="subject_replace",
        subset="replace",
        instruction="replace the cup in <imagehere> with <imagehere>",
        instruction_images=[source, entity],
        prompt="replace the cup with a backpack",
        source=source,
        object="backpack",
        meta={"subject_index": 1},
    )


def test_flux_kontext_inputs(dog, landscape):
    adapter = FluxKontext(device="cpu")
    assert comparable(adapter.pipeline_inputs(_request(source=landscape))) == comparable(
        {
            "image": landscape,
            "prompt": "Make the sky purple",
            "height": 880,
            "width": 1184,
            "max_area": 1184 * 880,
            "num_inference_steps": 28,
            "guidance_scale": 2.5,
        }
    )
    assert comparable(adapter.pipeline_inputs(_dreambench(dog))) == comparable(
        {
            "image": dog,
            "prompt": "a dog in the jungle",
            "height": 1024,
            "width": 1024,
            "max_area": 1024 * 1024,
            "num_inference_steps": 28,
            "guidance_scale": 2.5,
        }
    )


def test_qwen_image_edit_inputs(landscape):
    assert comparable(QwenImageEdit(device="cpu").pipeline_inputs(_request(source=landscape))) == comparable(
        {
            "image": landscape,
            "prompt": "Make the sky purple",
            "negative_prompt": " ",
            "true_cfg_scale": 4.0,
            "num_inference_steps": 50,
            "height": 896,
            "width": 1184,
        }
    )


def test_qwen_image_edit_plus_inputs_for_every_task(dog, landscape, entity):
    adapter = QwenImageEditPlus(device="cpu")
    common = {"negative_prompt": " ", "true_cfg_scale": 4.0, "num_inference_steps": 40, "guidance_scale": 1.0}
    assert comparable(adapter.pipeline_inputs(_add(entity, landscape))) == comparable(
        {
            "image": [entity, landscape],
            "prompt": "add Picture 1 in the bottom middle of Picture 2",
            "height": 896,
            "width": 1184,
            **common,
        }
    )
    # replace: source first, entity last; the size still follows the source, not the last image
    assert comparable(adapter.pipeline_inputs(_replace(entity, landscape))) == comparable(
        {
            "image": [landscape, entity],
            "prompt": "replace the cup in Picture 1 with Picture 2",
            "height": 896,
            "width": 1184,
            **common,
        }
    )
    assert comparable(adapter.pipeline_inputs(_dreambench(dog))) == comparable(
        {"image": [dog], "prompt": "a dog in the jungle", "height": 1024, "width": 1024, **common}
    )
    assert comparable(adapter.pipeline_inputs(_request(source=landscape))) == comparable(
        {"image": [landscape], "prompt": "Make the sky purple", "height": 896, "width": 1184, **common}
    )


@pytest.mark.parametrize(("cls", "steps", "guidance"), [(Flux2, 50, 4.0), (Flux2Klein, 4, 1.0)])
def test_flux2_inputs_for_every_task(cls, steps, guidance, dog, landscape, entity):
    adapter = cls(device="cpu")
    common = {"num_inference_steps": steps, "guidance_scale": guidance}
    assert comparable(adapter.pipeline_inputs(_add(entity, landscape))) == comparable(
        {
            "image": [entity, landscape],
            "prompt": "add image 1 in the bottom middle of image 2",
            "height": 480,
            "width": 640,
            **common,
        }
    )  # the source's size, not the entity's (the first image)
    assert comparable(adapter.pipeline_inputs(_replace(entity, landscape))) == comparable(
        {
            "image": [landscape, entity],
            "prompt": "replace the cup in image 1 with image 2",
            "height": 480,
            "width": 640,
            **common,
        }
    )
    assert comparable(adapter.pipeline_inputs(_dreambench(dog))) == comparable(
        {"image": [dog], "prompt": "a dog in the jungle", "height": 768, "width": 768, **common}
    )  # 780 -> 768
    assert comparable(adapter.pipeline_inputs(_request(source=landscape))) == comparable(
        {"image": [landscape], "prompt": "Make the sky purple", "height": 480, "width": 640, **common}
    )


def test_longcat_inputs(landscape):
    adapter = LongCatImageEdit(device="cpu")
    assert comparable(adapter.pipeline_inputs(_request(source=landscape))) == comparable(
        {
            "image": landscape,
            "prompt": "Make the sky purple",
            "negative_prompt": "",
            "guidance_scale": 4.5,
            "num_inference_steps": 50,
        }
    )
    assert adapter.native_size(_request(source=landscape)) == (1184, 896)


def test_a_single_image_needs_no_name_but_several_do(entity, landscape):
    """The placeholder text is dropped for one image (the caption is the prompt) and named for several."""
    adapter = QwenImageEditPlus(device="cpu")
    one = _request(
        task="subject_add",
        instruction="put <imagehere> on the beach",
        instruction_images=[entity],
        prompt="",
        source=None,
    )
    assert adapter.pipeline_inputs(one)["prompt"] == "put on the beach"
    two = _request(
        task="subject_add",
        instruction="Put <ImageHere> beside <IMAGEHERE>.",
        instruction_images=[entity, landscape],
        source=landscape,
        prompt="put it",
    )
    assert adapter.pipeline_inputs(two)["prompt"] == "Put Picture 1 beside Picture 2."


def test_a_requested_size_is_an_output_size_not_a_generation_size(landscape):
    adapter = Flux2(device="cpu")
    request = _request(source=landscape, size=(256, 256))
    assert adapter.pipeline_inputs(request)["width"] == 640 and adapter.pipeline_inputs(request)["height"] == 480
    assert adapter.output_size(request) == (256, 256)


# -- bad inputs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_a_malformed_requested_size_fails_before_any_work(cls, landscape):
    with pytest.raises(ValueError, match=r"sample s1 asks for output size \(0, 64\)"):
        cls(device="cpu").pipeline_inputs(_request(source=landscape, size=(0, 64)))


@pytest.mark.parametrize("cls", [QwenImageEditPlus, Flux2, Flux2Klein], ids=lambda c: c.name)
def test_more_images_than_the_model_takes_fail_the_sample(cls, entity, landscape):
    n = cls.max_images + 1
    request = _request(
        id="many",
        task="subject_add",
        instruction=" and ".join(["<imagehere>"] * n),
        instruction_images=[entity] * n,
        source=landscape,
    )
    with pytest.raises(
        ValueError,
        match=rf"sample many has {n} conditioning images; the model takes at most "
        rf"{cls.max_images} \(",
    ):
        cls(device="cpu").pipeline_inputs(request)
    request.instruction_images, request.instruction = [entity] * (n - 1), " and ".join(["<imagehere>"] * (n - 1))
    assert len(cls(device="cpu").pipeline_inputs(request)["image"]) == n - 1


def test_kontext_takes_one_reference(dog, entity):
    request = _dreambench(dog, id="two")
    request.instruction, request.instruction_images = "a <imagehere> next to a <imagehere>", [dog, entity]
    with pytest.raises(ValueError, match="sample two has 2 conditioning images; the model takes at most 1"):
        FluxKontext(device="cpu").pipeline_inputs(request)


@pytest.mark.parametrize(
    ("cls", "task"),
    [
        (QwenImageEdit, "subject_add"),
        (LongCatImageEdit, "subject"),
        (FluxKontext, "subject_replace"),
    ],
)
def test_a_task_the_model_lacks_is_refused(cls, task, landscape):
    with pytest.raises(ValueError, match=rf"task '{task}'; this adapter supports"):
        cls(device="cpu").pipeline_inputs(_request(task=task, source=landscape))


@pytest.mark.parametrize("cls", EDITORS, ids=lambda c: c.name)
def test_a_request_with_no_image_is_refused(cls):
    task = "edit" if "edit" in cls.tasks else sorted(cls.tasks)[0]
    with pytest.raises(ValueError, match="sample empty has neither instruction images nor a source image"):
        cls(device="cpu").pipeline_inputs(_request(id="empty", task=task))


def test_importing_and_building_imports_no_model_code():
    code = textwrap.dedent("""
        import sys
        from mige_eval.registry import ADAPTERS
        for name in ("flux-kontext", "qwen-image-edit", "qwen-image-edit-plus", "flux2", "flux2-klein",
                     "longcat-image-edit", "ultraedit"):
            ADAPTERS.load(name)(model_id="/nonexistent/weights", device="cpu").config()
        print(sorted(m for m in ("diffusers", "transformers", "torchvision") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_missing_weights_offline_name_the_model_and_the_download_command(tmp_path):
    code = textwrap.dedent("""
        from PIL import Image
        from mige_eval.errors import MissingWeightsError
        from mige_eval.registry import ADAPTERS
        from mige_eval.types import Request
        image = Image.new("RGB", (96, 80))
        request = Request(id="e", task="edit", subset="", instruction="make it red", instruction_images=[],
                          prompt="make it red", source=image, mask=None, object=None, seed=0)
        for name in ("flux-kontext", "qwen-image-edit", "qwen-image-edit-plus", "flux2", "flux2-klein",
                     "longcat-image-edit", "ultraedit"):
            try:
                ADAPTERS.load(name)(device="cpu").generate([request])
            except MissingWeightsError as exc:
                print(name, "|", str(exc).replace("\\n", " "))
            else:
                print(name, "| loaded?!")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" | ", 1) for line in result.stdout.strip().splitlines())
    assert set(lines) == {cls.name for cls in [*EDITORS, UltraEdit]}
    for cls in [*EDITORS, UltraEdit]:
        assert repr(cls.default_model_id) in lines[cls.name]
        assert f"hf download {cls.default_model_id}" in lines[cls.name]
        assert "HF_HUB_OFFLINE" in lines[cls.name]


def test_native_sizes_are_sides_of_multiples_the_pipelines_accept():
    for reference in [(640, 480), (97, 1301), (2048, 2048), (1000, 333)]:
        for size in (kontext_size(reference), flux2_size(reference), longcat_size(reference)):
            assert all(side % 16 == 0 for side in size)
        assert all(side % 32 == 0 for side in qwen_size(reference))
        width, height = qwen_size(reference)
        assert math.isclose(width * height, 1024 * 1024, rel_tol=0.1)
