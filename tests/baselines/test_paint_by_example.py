"""Paint by Example: the subject photo, the mask and the source of MIGEBench add/replace requests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mige_eval.baselines.paint_by_example import EXAMPLE_SIZE, PaintByExample, subject_photo


def _mask(size, box=(8, 8, 32, 32)) -> Image.Image:
    mask = Image.new("L", size)
    mask.paste(255, box)
    return mask


@pytest.fixture
def add_request(make_request, dreambench_photos):
    """MIGEBench-style add: real DreamBench photos as entity (a dog) and source (a backpack scene)."""
    entity, source = (Image.open(p).convert("RGB") for p in dreambench_photos[0::2][:2])

    def make(**fields):
        values = dict(
            task="subject_add",
            instruction="add <imagehere> in the bottom middle of <imagehere>",
            instruction_images=[entity, source],
            prompt="add the dog",
            source=source,
            mask=_mask(source.size, (100, 200, 300, 400)),
            object="dog",
        )
        return make_request(**{**values, **fields})

    return make


def test_published_defaults():
    config = PaintByExample(device="cpu").config()
    assert config["model_id"] == "Fantasy-Studio/Paint-by-Example"
    assert (config["steps"], config["guidance_scale"], config["resolution"]) == (50, 5.0, 512)
    assert PaintByExample.tasks == frozenset({"subject_add", "subject_replace"})


def test_an_add_request_becomes_source_mask_and_subject_photo(add_request):
    request = add_request()
    entity = request.instruction_images[0]
    inputs = PaintByExample(device="cpu").pipeline_inputs(request)
    image, mask, example = inputs.pop("image"), inputs.pop("mask_image"), inputs.pop("example_image")
    assert inputs == {"num_inference_steps": 50, "guidance_scale": 5.0}
    assert (image.mode, image.size, mask.mode, mask.size) == ("RGB", (512, 512), "L", (512, 512))
    assert set(np.unique(np.asarray(mask))) == {0, 255}  # nearest-neighbour keeps the mask binary
    assert example.size == (EXAMPLE_SIZE, EXAMPLE_SIZE)
    assert example.tobytes() == entity.resize((EXAMPLE_SIZE, EXAMPLE_SIZE), Image.Resampling.BICUBIC).tobytes()


def test_the_subject_index_names_the_subject_photo(make_request, photos):
    request = make_request(
        task="subject_replace",
        instruction="replace the cup in <imagehere> with <imagehere>",
        instruction_images=[photos[0], photos[2]],
        meta={"subject_index": 1},
    )
    assert subject_photo(request) is photos[2]


def test_without_an_index_the_photo_that_differs_from_the_source_is_the_subject(make_request, photos):
    request = make_request(
        task="subject_replace",
        instruction="replace the cup in <imagehere> with <imagehere>",
        instruction_images=[photos[0].copy(), photos[2]],
    )
    assert subject_photo(request) is photos[2]


@pytest.mark.parametrize(
    "images", [lambda p: [p[1], p[2]], lambda p: [p[0], p[0].copy()]], ids=["none-is-the-source", "both-are-the-source"]
)
def test_an_ambiguous_subject_photo_fails_and_asks_for_the_index(make_request, photos, images):
    request = make_request(
        id="mige-r-4",
        task="subject_replace",
        instruction="swap <imagehere> and <imagehere>",
        instruction_images=images(photos),
    )
    with pytest.raises(ValueError, match=r"mige-r-4: cannot tell which .* set meta\['subject_index'\]"):
        subject_photo(request)


@pytest.mark.parametrize("index", [2, -1, "1", True])
def test_a_bad_subject_index_is_refused(make_request, photos, index):
    request = make_request(
        instruction="<imagehere> <imagehere>", instruction_images=photos[:2], meta={"subject_index": index}
    )
    with pytest.raises(ValueError, match="subject_index"):
        subject_photo(request)


def test_a_request_without_mask_fails_naming_the_sample(add_request):
    with pytest.raises(ValueError, match="paint-by-example: sample mige-add-12 has no mask image"):
        PaintByExample(device="cpu").pipeline_inputs(add_request(id="mige-add-12", mask=None))


def test_a_request_without_source_fails_naming_the_sample(add_request):
    with pytest.raises(ValueError, match="sample mige-add-13 has no source image"):
        PaintByExample(device="cpu").pipeline_inputs(add_request(id="mige-add-13", source=None))


def test_real_photos_run_end_to_end(loaded, paint_by_example_dir, add_request):
    adapter = loaded(PaintByExample, paint_by_example_dir, steps=2, resolution=32)
    (image,) = adapter.generate([add_request(size=(40, 32))])
    assert (image.mode, image.size) == ("RGB", (40, 32))
