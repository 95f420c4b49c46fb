"""Today's editors (and UltraEdit) on tiny random pipelines of their real classes, loaded through ``model_id``.

Several of these pipelines resize every input to about a megapixel whatever its size, so each adapter runs one
shared set of generations (a batch of two requests, the first request alone, the first with another seed, and
the same request through the diffusers pipeline directly) and the tests below read it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from mige_eval.baselines.flux2 import Flux2, Flux2Klein
from mige_eval.baselines.flux_kontext import FluxKontext
from mige_eval.baselines.longcat_image_edit import LongCatImageEdit
from mige_eval.baselines.qwen_image_edit import QwenImageEdit
from mige_eval.baselines.qwen_image_edit_plus import QwenImageEditPlus
from mige_eval.baselines.ultraedit import UltraEdit, ultraedit_pipeline_class
from mige_eval.types import Request
from pipeline_inputs import comparable

STEPS = 2
SEED = 7


def _noise(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


SOURCE, ENTITY = _noise(1, (96, 80)), _noise(2, (64, 64))  # FLUX.2 takes no image under 64 pixels a side


def _edit(**fields) -> Request:
    values = dict(
        id="a",
        task="edit",
        subset="",
        instruction="make the sky purple",
        instruction_images=[],
        prompt="make the sky purple",
        source=SOURCE,
        mask=None,
        object=None,
        seed=SEED,
    )
    return Request(**{**values, **fields})


def _add(**fields) -> Request:
    return _edit(
        task="subject_add",
        instruction="add <imagehere> to <imagehere>",
        instruction_images=[ENTITY, SOURCE],
        prompt="add the toy",
        **fields,
    )


def _replace(**fields) -> Request:
    return _edit(
        task="subject_replace",
        instruction="replace the cup in <imagehere> with <imagehere>",
        instruction_images=[SOURCE, ENTITY],
        prompt="replace the cup",
        **fields,
    )


# adapter class, tiny pipeline fixture, request factory, options, native size of that request's 96 x 80 source;
# the reference-image editors generate a 40 x 24 request at the native size too, UltraEdit at 40 x 24 made
# divisible by 16 (48 x 32), as the older baselines do
SPECS = {
    "flux-kontext": (FluxKontext, "kontext_dir", _edit, {"resolution": 64}, (64, 48)),
    "qwen-image-edit": (QwenImageEdit, "qwen_edit_dir", _edit, {"resolution": 64}, (64, 64)),
    "qwen-image-edit-plus": (QwenImageEditPlus, "qwen_edit_plus_dir", _add, {"resolution": 64}, (64, 64)),
    "flux2": (Flux2, "flux2_dir", _add, {"resolution": 64}, (64, 48)),
    "flux2-klein": (Flux2Klein, "flux2_klein_dir", _replace, {"resolution": 64}, (64, 48)),
    "longcat-image-edit": (LongCatImageEdit, "longcat_dir", _edit, {}, (1136, 944)),  # fixed at a megapixel
    "ultraedit": (UltraEdit, "ultraedit_dir", _edit, {"resolution": 64}, (64, 64)),
}
GENERATED_AT_REQUESTED_SIZE = {"ultraedit": (48, 32)}


@dataclasses.dataclass
class Runs:
    adapter: object
    requests: list[Request]
    batch: list[Image.Image]
    calls: list[dict]
    alone: Image.Image
    reseeded: Image.Image
    direct: Image.Image
    native: tuple[int, int]


def _recording_calls(adapter, requests):
    """Run ``adapter.generate(requests)`` recording the keyword arguments of each pipeline call."""
    pipeline_class, calls = type(adapter.pipeline), []
    original = pipeline_class.__call__

    def recording(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    pipeline_class.__call__ = recording
    try:
        return adapter.generate(requests), calls
    finally:
        pipeline_class.__call__ = original


def _direct_pipeline(cls, model_dir):
    """The adapter's diffusers pipeline loaded directly (with the torchvision-free processors where needed)."""
    import diffusers

    from mige_eval.baselines import _processors

    if cls is UltraEdit:
        return ultraedit_pipeline_class().from_pretrained(model_dir)
    pipeline_class = getattr(diffusers, cls.pipeline_class)
    if _processors.has_torchvision():
        return pipeline_class.from_pretrained(model_dir)
    if cls in (QwenImageEdit, QwenImageEditPlus, LongCatImageEdit):
        part = "text_processor" if cls is LongCatImageEdit else "processor"
        processor = _processors.still_image_processor_class().from_pretrained(model_dir, subfolder=part)
        return pipeline_class.from_pretrained(model_dir, **{part: processor})
    if cls is Flux2:
        pipe = pipeline_class.from_pretrained(model_dir, tokenizer=None)
        pipe.register_modules(
            tokenizer=_processors.text_chat_processor_class().from_pretrained(model_dir, subfolder="tokenizer")
        )
        return pipe
    return pipeline_class.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def runs(request):
    cache: dict[str, Runs] = {}

    def get(name: str) -> Runs:
        if name not in cache:
            import torch

            cls, fixture, make, options, native = SPECS[name]
            model_dir = request.getfixturevalue(fixture)
            adapter = cls(model_id=str(model_dir), device="cpu", steps=STEPS, **options)
            first, second = make(id="a"), make(id="b", seed=SEED + 1, size=(40, 24))
            batch, calls = _recording_calls(adapter, [first, second])
            (alone,) = adapter.generate([first])
            (reseeded,) = adapter.generate([dataclasses.replace(first, seed=SEED + 2)])
            pipe = _direct_pipeline(cls, model_dir)
            pipe.set_progress_bar_config(disable=True)
            direct = pipe(**adapter.pipeline_inputs(first), generator=torch.Generator("cpu").manual_seed(SEED))
            cache[name] = Runs(
                adapter, [first, second], batch, calls, alone, reseeded, direct.images[0].convert("RGB"), native
            )
        return cache[name]

    return get


NAMES = sorted(SPECS)


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_rgb_at_the_requested_or_native_size_and_carry_the_native_size(runs, name):
    r = runs(name)
    assert [im.mode for im in r.batch] == ["RGB", "RGB"]
    assert [im.size for im in r.batch] == [r.native, (40, 24)]
    second = GENERATED_AT_REQUESTED_SIZE.get(name, r.native)
    assert [im.info["native_size"] for im in r.batch] == [r.native, second]
    assert r.adapter.native_size(r.requests[0]) == r.native


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_image_whatever_the_batch_and_another_seed_another(runs, name):
    r = runs(name)
    assert np.array_equal(np.asarray(r.alone), np.asarray(r.batch[0]))
    assert not np.array_equal(np.asarray(r.reseeded), np.asarray(r.batch[0]))


@pytest.mark.parametrize("name", NAMES)
def test_each_request_is_one_seeded_pipeline_call_with_exactly_its_inputs(runs, name):
    import torch

    r = runs(name)
    assert len(r.calls) == 2
    for request, call in zip(r.requests, r.calls, strict=True):
        call = dict(call)
        generator = call.pop("generator")
        assert isinstance(generator, torch.Generator) and generator.initial_seed() == request.seed
        assert comparable(call) == comparable(r.adapter.pipeline_inputs(request))


@pytest.mark.parametrize("name", NAMES)
def test_the_image_is_the_diffusers_pipeline_called_directly(runs, name):
    """Same inputs, same generator: the adapter adds nothing to the pipeline call but the final resize."""
    r = runs(name)
    assert np.array_equal(np.asarray(r.direct), np.asarray(r.batch[0]))
