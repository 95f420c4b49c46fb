"""``longcat-image-edit``: LongCat-Image-Edit (Meituan LongCat team, 2025) through ``LongCatImageEditPipeline``.

Published inference settings (the model card's diffusers example), all overridable with ``--model-arg``:

- weights ``meituan-longcat/LongCat-Image-Edit``; no commit is published, so ``revision`` defaults to ``main``;
- ``steps=50``, ``guidance_scale=4.5``, ``negative_prompt=""``: the model card's example. The distilled
  ``meituan-longcat/LongCat-Image-Edit-Turbo`` runs with ``steps=8 guidance_scale=1`` (its model card);
- output size: fixed by the pipeline, which has no size arguments: one megapixel at the source's aspect ratio,
  sides rounded *up* to multiples of 16 (diffusers' LongCat ``calculate_dimensions(1024 * 1024, ratio)``), so the
  adapter has no ``resolution`` option.

Prompt mapping: the plain instruction with the source image (one input image only).
"""

from __future__ import annotations

import math
from typing import Any

from mige_eval.adapters.options import non_negative_float
from mige_eval.baselines._diffusers import text_option
from mige_eval.baselines._editors import ReferenceEditor
from mige_eval.baselines._processors import qwen_vl_processor_kwargs, vision_preprocessing
from mige_eval.types import Request

#: The pipeline's fixed output area in pixels.
LONGCAT_AREA = 1024 * 1024


def longcat_size(reference_size: tuple[int, int]) -> tuple[int, int]:
    """One megapixel at the reference's aspect ratio, each side rounded up to a multiple of 16."""
    ratio = reference_size[0] / reference_size[1]
    width = math.sqrt(LONGCAT_AREA * ratio)
    height = width / ratio
    return (
        int(width if width % 16 == 0 else (width // 16 + 1) * 16),
        int(height if height % 16 == 0 else (height // 16 + 1) * 16),
    )


class LongCatImageEdit(ReferenceEditor):
    name = "longcat-image-edit"
    tasks = frozenset({"edit"})
    description = "LongCat-Image-Edit (Meituan, 2025): instruction editor on Qwen2.5-VL, one input image"
    license = "Apache-2.0"
    pipeline_class = "LongCatImageEditPipeline"
    default_model_id = "meituan-longcat/LongCat-Image-Edit"
    quantizable = ("transformer", "text_encoder")

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 50,
        guidance_scale: float = 4.5,
        negative_prompt: str = "",
        cpu_offload: bool = False,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        self.negative_prompt = text_option("negative_prompt", negative_prompt)
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=steps,
            resolution=1024,
            cpu_offload=cpu_offload,
            attention_slicing=False,
            group_offload=group_offload,
            quantize=quantize,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "guidance_scale": self.guidance_scale,
            "negative_prompt": self.negative_prompt,
            "vision_preprocessing": vision_preprocessing(),
        }

    def _load_kwargs(self) -> dict[str, Any]:
        return qwen_vl_processor_kwargs(
            "text_processor", self.model_id, what=f"{self.name} model", revision=self.revision
        )

    def model_size(self, reference_size: tuple[int, int]) -> tuple[int, int]:
        return longcat_size(reference_size)

    def _inputs(self, request: Request) -> dict[str, Any]:
        prompt, images = self.conditioning(request)
        return {
            "image": images[0],
            "prompt": prompt,
            "negative_prompt": self.negative_prompt,
            "guidance_scale": self.guidance_scale,
            "num_inference_steps": self.steps,
        }
