"""``omnigen``: OmniGen (Xiao et al., 2024, "OmniGen: Unified Image Generation") through diffusers.

Published inference settings (github.com/VectorSpaceLab/OmniGen README, ``docs/inference.md``, ``app.py``),
all overridable with ``--model-arg``:

- weights ``Shitao/OmniGen-v1-diffusers`` (the diffusers conversion the diffusers OmniGen guide and the
  OmniGen README's "Using Diffusers" link load); no commit is published, so ``revision`` defaults to ``main``;
- ``steps=50``, ``guidance_scale=2.5``, ``img_guidance_scale=1.6``, ``max_input_image_size=1024``: the README
  and ``app.py`` defaults (``docs/inference.md``: guidance "usually best between 2 and 3");
- output size: ``resolution=1024`` square for subject-driven generation (the README's default); for a request
  with a source image (edit, subject_add, subject_replace) the source's own size after OmniGen's input crop,
  which is what ``use_input_image_size_as_output`` does and what the authors recommend for editing ("set the
  height and width of output image as the same as input image"; they report evaluating Emu Edit at 512 px,
  VectorSpaceLab/OmniGen issue #164);
- ``dtype=auto`` is bf16 on CUDA, the precision of the authors' pipeline (fp32 on the CPU).

Prompt mapping: the k-th ``<imagehere>`` of the instruction becomes ``<img><|image_k|></img>`` and
``input_images`` are the instruction images in order (MIGEBench's add/replace instructions name the entity and
the source this way). An instruction without placeholders (Emu Edit, MagicBrush) edits the source with the
image first, as the authors advise: ``"<img><|image_1|></img> " + instruction``.

diffusers' OmniGen processor needs torchvision only for ``ToTensor`` and ``Normalize``;
:func:`numpy_processor_class` does the same arithmetic with numpy, so the adapter runs with or without
torchvision and gives the same images. OmniGen's transformer has no sliced attention: the adapter has no
``attention_slicing`` option.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from mige_eval.adapters.options import non_negative_float, positive_int
from mige_eval.baselines._diffusers import (
    DiffusersAdapter,
    plain_text,
    split_placeholders,
    temporary_attribute,
)
from mige_eval.types import TASKS, Request


def image_tag(k: int) -> str:
    """OmniGen's placeholder for its k-th input image (1-based)."""
    return f"<img><|image_{k}|></img>"


def omnigen_prompt(instruction: str) -> str:
    """The instruction with its k-th ``<imagehere>`` replaced by OmniGen's k-th image tag."""
    pieces = split_placeholders(instruction)
    text = pieces[0] + "".join(image_tag(k) + piece for k, piece in enumerate(pieces[1:], start=1))
    return " ".join(text.split())


class OmniGen(DiffusersAdapter):
    name = "omnigen"
    tasks = frozenset(TASKS)
    description = "OmniGen v1 (Xiao et al., 2024), Shitao/OmniGen-v1-diffusers via diffusers"
    license = "MIT (model card)"
    pipeline_class = "OmniGenPipeline"
    default_model_id = "Shitao/OmniGen-v1-diffusers"
    size_multiple = 16
    cuda_dtype = "bf16"

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 50,
        guidance_scale: float = 2.5,
        img_guidance_scale: float = 1.6,
        resolution: int = 1024,
        max_input_image_size: int = 1024,
        cpu_offload: bool = False,
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        self.img_guidance_scale = non_negative_float("img_guidance_scale", img_guidance_scale)
        self.max_input_image_size = positive_int("max_input_image_size", max_input_image_size)
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=steps,
            resolution=resolution,
            cpu_offload=cpu_offload,
            attention_slicing=False,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "guidance_scale": self.guidance_scale,
            "img_guidance_scale": self.img_guidance_scale,
            "max_input_image_size": self.max_input_image_size,
        }

    def native_size(self, request: Request) -> tuple[int, int]:
        if request.source is None:
            return (self.resolution, self.resolution)
        return _processor_module().crop_image(request.source.convert("RGB"), self.max_input_image_size).size

    def _inputs(self, request: Request) -> dict[str, Any]:
        if request.instruction_images:
            prompt, images = omnigen_prompt(request.instruction), list(request.instruction_images)
        elif request.source is not None:
            prompt, images = f"{image_tag(1)} {plain_text(request)}", [request.source]
        else:
            raise ValueError(
                f"{self.name}: sample {request.id} has neither instruction images nor a source image to condition on"
            )
        width, height = self.generation_size(request)
        return {
            "prompt": prompt,
            "input_images": [image.convert("RGB") for image in images],
            "height": height,
            "width": width,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "img_guidance_scale": self.img_guidance_scale,
            "max_input_image_size": self.max_input_image_size,
            "use_input_image_size_as_output": False,  # the size is set above, per request
        }

    def _load(self) -> Any:
        with torchvision_free_processor():
            return super()._load()

    def _prepare(self, pipe: Any) -> None:
        pipe.multimodal_processor = numpy_processor_class()(pipe.tokenizer, max_image_size=self.max_input_image_size)


def _processor_module() -> Any:
    from diffusers import OmniGenPipeline

    return importlib.import_module(OmniGenPipeline.__module__.rsplit(".", 1)[0] + ".processor_omnigen")


@functools.cache
def numpy_processor_class() -> type:
    """diffusers' ``OmniGenMultiModalProcessor`` with torchvision's two transforms done in numpy."""
    import torch

    module = _processor_module()

    class NumpyOmniGenProcessor(module.OmniGenMultiModalProcessor):
        def __init__(self, text_tokenizer: Any, max_image_size: int = 1024) -> None:
            self.text_tokenizer = text_tokenizer
            self.max_image_size = max_image_size
            self.collator = module.OmniGenCollator()

        def reset_max_image_size(self, max_image_size: int) -> None:
            self.max_image_size = max_image_size

        def process_image(self, image: Any) -> Any:
            """crop_image, then ToTensor (x / 255) and Normalize(0.5, 0.5), in float32 as torchvision does."""
            pixels = np.asarray(module.crop_image(image.convert("RGB"), self.max_image_size), dtype=np.float32)
            return torch.from_numpy(pixels).permute(2, 0, 1).contiguous().div(255).sub(0.5).div(0.5)

    return NumpyOmniGenProcessor


@contextlib.contextmanager
def torchvision_free_processor() -> Iterator[None]:
    """Let ``OmniGenPipeline`` be constructed without torchvision.

    Its constructor instantiates ``OmniGenMultiModalProcessor``, a name diffusers defines only when
    torchvision is installed; for the time of the block the pipeline module gets
    :func:`numpy_processor_class` instead (the adapter installs that processor after loading either way).
    """
    from diffusers import OmniGenPipeline

    module = importlib.import_module(OmniGenPipeline.__module__)
    with temporary_attribute(module, "OmniGenMultiModalProcessor", numpy_processor_class()):
        yield
