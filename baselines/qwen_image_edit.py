"""``qwen-image-edit``: Qwen-Image-Edit (Qwen team, 2025) through diffusers' ``QwenImageEditPipeline``.

Published inference settings (github.com/QwenLM/Qwen-Image README and the model card's diffusers example), all
overridable with ``--model-arg``:

- weights ``Qwen/Qwen-Image-Edit``; no commit is published, so ``revision`` defaults to ``main``;
- ``steps=50``, ``true_cfg_scale=4.0``, ``negative_prompt=" "``: the README's example ("true_cfg_scale": 4.0,
  "negative_prompt": " ", "num_inference_steps": 50); a non-empty negative prompt is what switches the pipeline's
  classifier-free guidance on;
- output size: one megapixel (``resolution`` squared) at the source's aspect ratio, sides rounded to multiples of
  32 — the pipeline's own default (``calculate_dimensions(1024 * 1024, ratio)``), passed explicitly. The pipeline
  always resizes the input image to that area itself.

Prompt mapping: the plain instruction with the source image (one input image only). The README recommends
rewriting prompts with an LLM for stability; the adapter does not (no network model in an evaluation).
"""

from __future__ import annotations

from typing import Any

from mige_eval.adapters.options import non_negative_float
from mige_eval.baselines._diffusers import text_option
from mige_eval.baselines._editors import ReferenceEditor
from mige_eval.baselines._processors import qwen_vl_processor_kwargs, vision_preprocessing
from mige_eval.types import Request


def qwen_size(reference_size: tuple[int, int], resolution: int = 1024) -> tuple[int, int]:
    """``resolution`` squared pixels at the reference's aspect ratio, each side rounded to a multiple of 32.

    The arithmetic of diffusers' Qwen-Image ``calculate_dimensions`` (Python's ``round``: halves to even).
    """
    ratio = reference_size[0] / reference_size[1]
    width = (resolution * resolution * ratio) ** 0.5
    height = width / ratio
    return max(32, round(width / 32) * 32), max(32, round(height / 32) * 32)


class QwenImageEdit(ReferenceEditor):
    name = "qwen-image-edit"
    tasks = frozenset({"edit"})
    description = "Qwen-Image-Edit (Qwen team, 2025): 20B MMDiT instruction editor on Qwen2.5-VL, one input image"
    license = "Apache-2.0"
    pipeline_class = "QwenImageEditPipeline"
    default_model_id = "Qwen/Qwen-Image-Edit"
    size_multiple = 32
    quantizable = ("transformer", "text_encoder")

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 50,
        true_cfg_scale: float = 4.0,
        negative_prompt: str = " ",
        resolution: int = 1024,
        cpu_offload: bool = False,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> None:
        self.true_cfg_scale = non_negative_float("true_cfg_scale", true_cfg_scale)
        self.negative_prompt = text_option("negative_prompt", negative_prompt)
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=steps,
            resolution=resolution,
            cpu_offload=cpu_offload,
            attention_slicing=False,
            group_offload=group_offload,
            quantize=quantize,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "true_cfg_scale": self.true_cfg_scale,
            "negative_prompt": self.negative_prompt,
            "vision_preprocessing": vision_preprocessing(),
        }

    def _load_kwargs(self) -> dict[str, Any]:
        return qwen_vl_processor_kwargs("processor", self.model_id, what=f"{self.name} model", revision=self.revision)

    def model_size(self, reference_size: tuple[int, int]) -> tuple[int, int]:
        return qwen_size(reference_size, self.resolution)

    def _image_argument(self, images: list[Any]) -> Any:
        """The pipeline's ``image``: this pipeline takes one image."""
        return images[0]

    def _inputs(self, request: Request) -> dict[str, Any]:
        prompt, images = self.conditioning(request)
        width, height = self.generation_size(request)
        return {
            "image": self._image_argument(images),
            "prompt": prompt,
            "negative_prompt": self.negative_prompt,
            "true_cfg_scale": self.true_cfg_scale,
            "num_inference_steps": self.steps,
            "height": height,
            "width": width,
        }
