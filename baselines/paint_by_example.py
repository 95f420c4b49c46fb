"""``paint-by-example``: Paint by Example (Yang et al., CVPR 2023) through diffusers.

The model repaints a masked region of a source image with the object of an example photo, so it runs the
mask-dependent MIGEBench tasks (``subject_add``, ``subject_replace``). Published inference settings
(github.com/Fantasy-Studio/Paint-by-Example ``README.md`` and ``scripts/inference.py``), all overridable
with ``--model-arg``:

- weights ``Fantasy-Studio/Paint-by-Example`` (the authors' diffusers checkpoint); no commit is published,
  so ``revision`` defaults to ``main``;
- ``steps=50`` (``--ddim_steps``), ``guidance_scale=5.0`` (the README's ``--scale 5``), PLMS sampling
  (``--plms``: the checkpoint's PNDM scheduler), ``resolution=512`` (``--H 512 --W 512``);
- the example photo is resized to 224 x 224 without cropping, as the script does before its CLIP encoder;
- no safety checker: the script computes one and then discards its result (``safety_checker=true`` loads
  the checkpoint's).

Request mapping: ``image`` = the source resized to the output size, ``mask_image`` = ``request.mask`` (white =
the region to repaint, MagicBrush's convention; resized with nearest-neighbour), ``example_image`` = the
subject photo: the instruction image ``request.meta["subject_index"]`` names, or, without that key, the one
instruction image whose pixels differ from the source's. A request without a mask fails with its sample id.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from mige_eval.adapters.options import flag, non_negative_float
from mige_eval.baselines._diffusers import DiffusersAdapter, require_image, safety_checker_kwargs
from mige_eval.types import Request

#: Side of the square the authors resize the example photo to (the input size of their CLIP ViT-L/14).
EXAMPLE_SIZE = 224


def _same_pixels(a: Image.Image, b: Image.Image) -> bool:
    a, b = a.convert("RGB"), b.convert("RGB")
    return a.size == b.size and a.tobytes() == b.tobytes()


def subject_photo(request: Request) -> Image.Image:
    """The instruction image that shows the subject to paint in (see the module docstring)."""
    images = request.instruction_images
    index = request.meta.get("subject_index")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(images):
            raise ValueError(
                f"sample {request.id}: meta['subject_index'] = {index!r} does not name one of its "
                f"{len(images)} instruction image(s)"
            )
        return images[index]
    source = request.source
    candidates = [image for image in images if source is None or not _same_pixels(image, source)]
    if len(candidates) != 1:
        raise ValueError(
            f"sample {request.id}: cannot tell which instruction image is the subject photo: {len(candidates)} of "
            f"its {len(images)} instruction image(s) differ from the source image; the benchmark should set "
            "meta['subject_index']"
        )
    return candidates[0]


class PaintByExample(DiffusersAdapter):
    name = "paint-by-example"
    tasks = frozenset({"subject_add", "subject_replace"})
    description = "Paint by Example (Yang et al., CVPR 2023): repaints the mask with the example photo's object"
    license = "CreativeML OpenRAIL-M (model card)"
    pipeline_class = "PaintByExamplePipeline"
    default_model_id = "Fantasy-Studio/Paint-by-Example"

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 50,
        guidance_scale: float = 5.0,
        resolution: int = 512,
        safety_checker: bool = False,
        cpu_offload: bool = False,
        attention_slicing: bool = False,
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        self.safety_checker = flag("safety_checker", safety_checker)
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=steps,
            resolution=resolution,
            cpu_offload=cpu_offload,
            attention_slicing=attention_slicing,
        )

    def _settings(self) -> dict[str, Any]:
        return {"guidance_scale": self.guidance_scale, "safety_checker": self.safety_checker}

    def _load_kwargs(self) -> dict[str, Any]:
        return safety_checker_kwargs(self.safety_checker)

    def _inputs(self, request: Request) -> dict[str, Any]:
        why = "Paint by Example repaints the masked region of a source image"
        source = require_image(request, "source", self.name, why)
        mask = require_image(request, "mask", self.name, f"{why}, and this benchmark gives no mask for the sample")
        size = self.generation_size(request)
        example = subject_photo(request).convert("RGB")
        return {
            "image": source.convert("RGB").resize(size, Image.Resampling.BICUBIC),
            "mask_image": mask.convert("L").resize(size, Image.Resampling.NEAREST),
            "example_image": example.resize((EXAMPLE_SIZE, EXAMPLE_SIZE), Image.Resampling.BICUBIC),
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
        }
