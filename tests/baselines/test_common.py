"""What every baseline adapter shares: lazy imports, options, config, weights errors, sizes and seeding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from mige_eval.baselines import _diffusers
from mige_eval.baselines.blip_diffusion import BlipDiffusion
from mige_eval.baselines.instructpix2pix import InstructPix2Pix
from mige_eval.baselines.magicbrush import MagicBrush
from mige_eval.baselines.omnigen import OmniGen
from mige_eval.baselines.paint_by_example import PaintByExample
from mige_eval.errors import MissingWeightsError
from mige_eval.registry import ADAPTERS
from mige_eval.types import TASKS
from pipeline_inputs import comparable

ADAPTER_CLASSES = [InstructPix2Pix, MagicBrush, OmniGen, PaintByExample, BlipDiffusion]
MODULES = ["instructpix2pix", "magicbrush", "omnigen", "paint_by_example", "blip_diffusion"]
COMMON_OPTIONS = {"model_id", "revision", "device", "dtype", "steps", "resolution", "cpu_offload"}


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_importing_the_adapters_imports_no_torch_diffusers_or_transformers():
    result = _run_python(f"""
        import sys
        for name in {MODULES!r}:
            __import__("mige_eval.baselines." + name)
        print(sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_building_an_adapter_reads_no_weights_and_imports_no_diffusers():
    result = _run_python("""
        import sys
        from mige_eval.registry import ADAPTERS
        for name in ("instructpix2pix", "magicbrush", "omnigen", "paint-by-example", "blip-diffusion"):
            ADAPTERS.load(name)(model_id="/nonexistent/weights", device="cpu")
        print("diffusers" in sys.modules, "transformers" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


TASKS_OF = {
    "instructpix2pix": {"edit"},
    "magicbrush": {"edit"},
    "omnigen": set(TASKS),
    "paint-by-example": {"subject_add", "subject_replace"},
    "blip-diffusion": {"subject"},
}


@pytest.mark.parametrize("cls", ADAPTER_CLASSES, ids=lambda c: c.name)
def test_registry_name_resolves_to_the_adapter_with_its_tasks_and_keyword_only_options(cls):
    import inspect

    assert ADAPTERS.load(cls.name) is cls
    assert cls.tasks == TASKS_OF[cls.name]
    params = inspect.signature(cls).parameters
    assert COMMON_OPTIONS <= set(params)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())


@pytest.mark.parametrize("cls", ADAPTER_CLASSES, ids=lambda c: c.name)
def test_config_holds_every_option_resolved_and_is_json(cls):
    import inspect

    adapter = cls(device="cpu")
    config = adapter.config()
    assert json.loads(json.dumps(config)) == config
    assert set(inspect.signature(cls).parameters) <= set(config)
    assert config["model_id"] == cls.default_model_id
    assert config["revision"] == "main"
    assert (config["device"], config["dtype"]) == ("cpu", "fp32")


def test_dtype_auto_is_the_authors_precision_on_cuda(monkeypatch):
    monkeypatch.setattr(_diffusers, "resolve_device", lambda device: "cuda")
    assert InstructPix2Pix(device="auto").config()["dtype"] == "fp16"
    assert BlipDiffusion(device="auto").config()["dtype"] == "fp16"
    assert OmniGen(device="auto").config()["dtype"] == "bf16"
    assert OmniGen(device="auto", dtype="fp32").config()["dtype"] == "fp32"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": "many"}, "steps"),
        ({"steps": True}, "steps"),
        ({"resolution": -512}, "resolution"),
        ({"guidance_scale": -1}, "guidance_scale"),
        ({"dtype": "fp8"}, "dtype"),
        ({"dtype": "fp16"}, "fp16"),  # half precision on the CPU
        ({"device": "tpu"}, "device"),
        ({"cpu_offload": True}, "cpu_offload"),  # offloading needs CUDA
        ({"cpu_offload": "yes"}, "cpu_offload"),
        ({"model_id": ""}, "model_id"),
        ({"revision": ""}, "revision"),
    ],
)
@pytest.mark.parametrize("cls", ADAPTER_CLASSES, ids=lambda c: c.name)
def test_bad_option_values_are_refused_with_the_option_named(cls, options, named):
    options = {"device": "cpu", **options}
    with pytest.raises(ValueError, match=named):
        cls(**options)


@pytest.mark.parametrize(
    ("cls", "options", "named"),
    [
        (InstructPix2Pix, {"image_guidance_scale": "high"}, "image_guidance_scale"),
        (InstructPix2Pix, {"scheduler": "ddim"}, "scheduler"),
        (InstructPix2Pix, {"safety_checker": 1}, "safety_checker"),
        (OmniGen, {"img_guidance_scale": -0.5}, "img_guidance_scale"),
        (OmniGen, {"max_input_image_size": 0}, "max_input_image_size"),
        (BlipDiffusion, {"prompt_reps": 0}, "prompt_reps"),
        (BlipDiffusion, {"prompt_strength": 0.01}, "prompt_strength"),
        (BlipDiffusion, {"negative_prompt": 3}, "negative_prompt"),
    ],
)
def test_bad_model_specific_options_are_refused(cls, options, named):
    with pytest.raises(ValueError, match=named):
        cls(device="cpu", **options)


def test_a_missing_local_model_directory_is_named(tmp_path, make_request):
    adapter = InstructPix2Pix(model_id=str(tmp_path / "nowhere"), device="cpu")
    with pytest.raises(MissingWeightsError, match="nowhere.*does not exist"):
        adapter.generate([make_request()])


def test_a_hub_model_missing_offline_names_the_id_and_the_download_command(tmp_path):
    """Every adapter's default weights, absent from an empty Hugging Face cache with the hub off."""
    result = _run_python(
        """
        from PIL import Image
        from mige_eval.errors import MissingWeightsError
        from mige_eval.registry import ADAPTERS
        from mige_eval.types import Request
        image, mask = Image.new("RGB", (32, 32)), Image.new("L", (32, 32), 255)
        requests = {
            "edit": Request(id="e", task="edit", subset="", instruction="make it red", instruction_images=[],
                            prompt="make it red", source=image, mask=None, object=None, seed=0),
            "subject": Request(id="s", task="subject", subset="", instruction="a <imagehere> on a beach",
                               instruction_images=[image], prompt="a dog on a beach", source=None, mask=None,
                               object="dog", seed=0, meta={"class_noun": "dog"}),
            "subject_add": Request(id="a", task="subject_add", subset="", instruction="add <imagehere> to <imagehere>",
                                   instruction_images=[Image.new("RGB", (8, 8), "red"), image], prompt="add it",
                                   source=image, mask=mask, object="dog", seed=0),
        }
        for name in ("instructpix2pix", "magicbrush", "omnigen", "paint-by-example", "blip-diffusion"):
            cls = ADAPTERS.load(name)
            task = next(t for t in ("edit", "subject", "subject_add") if t in cls.tasks)
            try:
                cls(device="cpu").generate([requests[task]])
            except MissingWeightsError as exc:
                print(name, "|", exc)
            else:
                print(name, "| loaded?!")
    """,
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" | ", 1) for line in result.stdout.strip().splitlines())
    assert set(lines) == {cls.name for cls in ADAPTER_CLASSES}
    for cls in ADAPTER_CLASSES:
        assert repr(cls.default_model_id) in lines[cls.name]
        assert f"hf download {cls.default_model_id}" in lines[cls.name]
        assert "HF_HUB_OFFLINE" in lines[cls.name]


def test_every_request_is_checked_before_any_weights_load(tmp_path, make_request):
    adapter = InstructPix2Pix(model_id=str(tmp_path / "nowhere"), device="cpu")
    with pytest.raises(ValueError, match="sample broken has no source image"):
        adapter.generate([make_request(), make_request(id="broken", source=None)])


def test_an_output_size_that_is_not_width_height_is_refused(make_request):
    with pytest.raises(ValueError, match=r"sample-1 asks for output size \(0, 64\)"):
        InstructPix2Pix(device="cpu").pipeline_inputs(make_request(size=(0, 64)))


def test_round_size_and_plain_text(make_request):
    assert _diffusers.round_size((40, 36), 8) == (40, 40)
    assert _diffusers.round_size((3, 100), 16) == (16, 96)
    assert _diffusers.plain_text(make_request(prompt=" make  it red ")) == "make it red"
    assert _diffusers.plain_text(make_request(prompt="", instruction="<ImageHere> make it red")) == "make it red"


# -- end to end on tiny random pipelines -------------------------------------------------------------------------


def _edit(make_request, photos, **fields):
    return make_request(**fields)


def _subject(make_request, photos, **fields):
    values = dict(
        task="subject",
        subset="live",
        instruction="a <imagehere> in the jungle",
        instruction_images=[photos[3]],
        prompt="a dog in the jungle",
        source=None,
        object="dog",
        meta={"class_noun": "dog"},
    )
    return make_request(**{**values, **fields})


def _subject_add(make_request, photos, **fields):
    mask = Image.new("L", photos[0].size)
    mask.paste(255, (8, 8, 32, 32))
    values = dict(
        task="subject_add",
        subset="add",
        instruction="add <imagehere> in the bottom middle of <imagehere>",
        instruction_images=[photos[2], photos[0]],
        prompt="add the toy",
        source=photos[0],
        mask=mask,
        object="toy",
    )
    return make_request(**{**values, **fields})


# adapter, its tiny pipeline fixture, a request factory, options, native output size of that request
E2E = {
    "instructpix2pix": (InstructPix2Pix, "ip2p_dir", _edit, {"resolution": 64}, (64, 64)),
    "magicbrush": (MagicBrush, "ip2p_dir", _edit, {"resolution": 64}, (64, 64)),
    "omnigen": (OmniGen, "omnigen_dir", _subject_add, {"resolution": 32}, (48, 32)),  # the source's 48x40, cropped
    "paint-by-example": (PaintByExample, "paint_by_example_dir", _subject_add, {"resolution": 32}, (32, 32)),
    "blip-diffusion": (
        BlipDiffusion,
        "blip_diffusion_dir",
        _subject,
        {"resolution": 32, "negative_prompt": "ugly"},
        (32, 32),
    ),
}


@pytest.fixture(params=sorted(E2E))
def e2e(request, loaded, make_request, photos):
    cls, fixture, factory, options, native = E2E[request.param]
    adapter = loaded(cls, request.getfixturevalue(fixture), steps=2, **options)
    return adapter, (lambda **fields: factory(make_request, photos, **fields)), native


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_outputs_are_rgb_at_the_requested_or_native_size(e2e):
    adapter, make, native = e2e
    images = adapter.generate([make(id="a"), make(id="b", size=(40, 24))])
    assert [im.mode for im in images] == ["RGB", "RGB"]
    assert [im.size for im in images] == [native, (40, 24)]


def test_the_same_seed_gives_the_same_image_and_another_seed_another(e2e):
    adapter, make, _ = e2e
    first, again, other = adapter.generate([make(seed=7), make(seed=7), make(seed=8)])
    assert np.array_equal(_pixels(first), _pixels(again))
    assert not np.array_equal(_pixels(first), _pixels(other))


def test_an_image_does_not_depend_on_the_batch_around_it(e2e, photos):
    adapter, make, _ = e2e
    target = make(id="target", seed=11)
    (alone,) = adapter.generate([target])
    neighbours = [make(id="n1", seed=3, size=(32, 32)), make(id="n2", seed=5, prompt="add a red toy")]
    batch = adapter.generate([neighbours[0], target, neighbours[1]])
    assert np.array_equal(_pixels(alone), _pixels(batch[1]))


def test_each_request_is_one_seeded_pipeline_call_with_exactly_its_inputs(e2e, capture_calls):
    import torch

    adapter, make, _ = e2e
    requests = [make(id="a", seed=21), make(id="b", seed=22)]
    calls = capture_calls(adapter)
    adapter.generate(requests)
    assert len(calls) == 2
    for request, call in zip(requests, calls, strict=True):
        generator = call.pop("generator")
        assert isinstance(generator, torch.Generator) and generator.initial_seed() == request.seed
        assert comparable(call) == comparable(adapter.pipeline_inputs(request))
