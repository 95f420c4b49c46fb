"""``qwen-image-edit-plus``: Qwen-Image-Edit-2509 / -2511 (Qwen team, 2025) through ``QwenImageEditPlusPipeline``.

The multi-image releases of Qwen-Image-Edit. Published inference settings (github.com/QwenLM/Qwen-Image README,
the 2509 and 2511 model cards), all overridable with ``--model-arg``:

- weights ``Qwen/Qwen-Image-Edit-2511`` (the README's current quick start); ``--model-arg
  model_id=Qwen/Qwen-Image-Edit-2509`` runs the September release with the same settings. No commit is published,
  so ``revision`` defaults to ``main``;
- ``steps=40``, ``true_cfg_scale=4.0``, ``guidance_scale=1.0``, ``negative_prompt=" "``: the README's example for
  both releases (``guidance_scale`` only reaches guidance-distilled transformers; these are not, and the
  pipeline ignores it, as the authors' call does);
- at most 3 input images: the 2509 model card ("optimal performance ... 1 to 3 input images");
- output size: one megapixel (``resolution`` squared) at the aspect ratio of the source image (without a source,
  of the first input image), sides multiples of 32. The pipeline's own default follows the *last* input image,
  which for MIGEBench's replace order (source, entity) would be the entity's shape; the adapter passes the
  source-based size explicitly.

Prompt mapping: the pipeline's text template introduces its k-th image as "Picture k:" before the instruction,
so with several images the k-th ``<imagehere>`` becomes "Picture k" (MIGEBench add: "add Picture 1 in the bottom
middle of Picture 2", entity then source). With one image (DreamBench, Emu Edit, MagicBrush) the prompt is the
plain instruction.
"""

from __future__ import annotations

from typing import Any

from mige_eval.adapters.options import non_negative_float
from mige_eval.baselines.qwen_image_edit import QwenImageEdit
from mige_eval.types import TASKS, Request


class QwenImageEditPlus(QwenImageEdit):
    name = "qwen-image-edit-plus"
    tasks = frozenset(TASKS)
    description = "Qwen-Image-Edit-2509/2511 (Qwen team, 2025): multi-image instruction editor on Qwen2.5-VL"
    license = "Apache-2.0"
    pipeline_class = "QwenImageEditPlusPipeline"
    default_model_id = "Qwen/Qwen-Image-Edit-2511"
    max_images = 3
    max_images_source = "Qwen-Image-Edit-2509 model card: optimal with 1 to 3 input images"
    reference_name = "Picture {k}"

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 40,
        true_cfg_scale: float = 4.0,
        guidance_scale: float = 1.0,
        negative_prompt: str = " ",
        resolution: int = 1024,
        cpu_offload: bool = False,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=steps,
            true_cfg_scale=true_cfg_scale,
            negative_prompt=negative_prompt,
            resolution=resolution,
            cpu_offload=cpu_offload,
            group_offload=group_offload,
            quantize=quantize,
        )

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "guidance_scale": self.guidance_scale}

    def _image_argument(self, images: list[Any]) -> Any:
        """The pipeline's ``image``: the list of input images, in order."""
        return images

    def _inputs(self, request: Request) -> dict[str, Any]:
        return {**super()._inputs(request), "guidance_scale": self.guidance_scale}
