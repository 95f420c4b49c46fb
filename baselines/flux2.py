"""``flux2`` and ``flux2-klein``: FLUX.2 [dev] and [klein] (Black Forest Labs, 2025-26) through diffusers.

Both take several reference images in context (``Flux2Pipeline``, ``Flux2KleinPipeline``). Published inference
settings (github.com/black-forest-labs/flux2 README, ``docs/flux2_dev_hf.md``, ``scripts/cli.py``; the model
cards), all overridable with ``--model-arg``:

- ``flux2``: weights ``black-forest-labs/FLUX.2-dev`` (gated), ``steps=50``, ``guidance_scale=4.0`` (the
  README's diffusers examples and the CLI defaults; the guidance is distilled into the transformer, one pass per
  step). At most 6 reference images: BFL's editing overview ("FLUX.2 [dev]: recommended max 6");
- ``flux2-klein``: weights ``black-forest-labs/FLUX.2-klein-4B`` (the Apache-2.0 member of the family),
  ``steps=4``, ``guidance_scale=1.0``: the distilled klein models are step- and guidance-distilled (4 steps;
  the pipeline ignores guidance for them). The undistilled ``FLUX.2-klein-base-4B`` / ``-base-9B`` need
  ``steps=50 guidance_scale=4.0`` (the README: "Base (50-step)"). At most 4 reference images (BFL's editing
  overview: "[klein] 4B / 9B: up to 4");
- no prompt upsampling (the CLI's default ``upsample_prompt_mode="none"``): it would rewrite prompts with the
  text encoder, not what the benchmark asked;
- output size: the source image's size (the CLI's ``match_image_size``), scaled down to ``resolution`` squared
  pixels when larger (the pipeline caps its inputs at one megapixel the same way), sides floored to multiples
  of 16; without a source, the first reference image's. The pipeline's own default follows the *first* image,
  which for MIGEBench's add order (entity, source) would be the entity's shape; the adapter passes the
  source-based size explicitly.

Prompt mapping: with several images the k-th ``<imagehere>`` becomes "image k", the explicit indexing of BFL's
multi-reference prompting guide ("The person from image 1 is petting the cat from image 2"); with one image the
prompt is the plain instruction. The pipeline rejects images under 64 pixels a side.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from mige_eval.baselines._editors import GuidedEditor, floor_to
from mige_eval.baselines._processors import has_torchvision, load_processor, text_chat_processor_class
from mige_eval.types import TASKS, Request


def flux2_size(reference_size: tuple[int, int], resolution: int = 1024) -> tuple[int, int]:
    """The reference's size, scaled to ``resolution`` squared pixels if larger, sides floored to multiples of 16.

    The arithmetic of diffusers' ``Flux2ImageProcessor._resize_to_target_area`` and the pipeline's rounding.
    """
    width, height = reference_size
    area = resolution * resolution
    if width * height > area:
        scale = math.sqrt(area / (width * height))
        width, height = int(width * scale), int(height * scale)
    return floor_to(width, 16), floor_to(height, 16)


class Flux2(GuidedEditor):
    name = "flux2"
    tasks = frozenset(TASKS)
    description = "FLUX.2 [dev] (Black Forest Labs, 2025): 32B flow transformer, multi-reference generation and editing"
    license = "FLUX.2 [dev] Non-Commercial License (non-commercial)"
    pipeline_class = "Flux2Pipeline"
    default_model_id = "black-forest-labs/FLUX.2-dev"
    max_images = 6
    max_images_source = "Black Forest Labs' editing guide: FLUX.2 [dev] recommended maximum of 6 reference images"
    reference_name = "image {k}"
    quantizable = ("transformer", "text_encoder")
    #: The component holding a ``PixtralProcessor`` (importable only with torchvision); None: a plain tokenizer.
    chat_processor: ClassVar[str | None] = "tokenizer"
    default_steps = 50
    default_guidance_scale = 4.0

    def model_size(self, reference_size: tuple[int, int]) -> tuple[int, int]:
        return flux2_size(reference_size, self.resolution)

    def _load_kwargs(self) -> dict[str, Any]:
        # without torchvision the checkpoint's PixtralProcessor cannot be imported: load the rest, then _prepare
        # installs its tokenizer and chat template (all the pipeline uses without prompt upsampling)
        return {} if has_torchvision() or self.chat_processor is None else {self.chat_processor: None}

    def _prepare(self, pipe: Any) -> None:
        if self.chat_processor is not None and getattr(pipe, self.chat_processor) is None:
            processor = load_processor(
                text_chat_processor_class(),
                self.model_id,
                self.chat_processor,
                what=f"{self.name} model",
                revision=self.revision,
            )
            pipe.register_modules(**{self.chat_processor: processor})

    def _inputs(self, request: Request) -> dict[str, Any]:
        prompt, images = self.conditioning(request)
        width, height = self.generation_size(request)
        return {
            "image": images,
            "prompt": prompt,
            "height": height,
            "width": width,
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
        }


class Flux2Klein(Flux2):
    name = "flux2-klein"
    description = "FLUX.2 [klein] (Black Forest Labs, 2026): 4B/9B step-distilled FLUX.2, multi-reference editing"
    license = "Apache-2.0 (FLUX.2 [klein] 4B, the default); the 9B models: FLUX Non-Commercial License (non-commercial)"
    pipeline_class = "Flux2KleinPipeline"
    default_model_id = "black-forest-labs/FLUX.2-klein-4B"
    max_images = 4
    max_images_source = "Black Forest Labs' editing guide: FLUX.2 [klein] takes up to 4 reference images"
    chat_processor = None  # a Qwen2 tokenizer
    default_steps = 4
    default_guidance_scale = 1.0
