"""``instructpix2pix``: InstructPix2Pix (Brooks, Holynski, Efros, CVPR 2023) through diffusers.

Published inference settings, all overridable with ``--model-arg``:

- weights ``timbrooks/instruct-pix2pix`` (the authors' diffusers checkpoint, linked from the README of
  github.com/timothybrooks/instruct-pix2pix); no commit is published, so ``revision`` defaults to ``main``;
- ``steps=100``, ``resolution=512``: the defaults of the authors' ``edit_cli.py``;
- ``guidance_scale=7.5`` (text CFG) and ``image_guidance_scale=1.5`` (image CFG): "The default Image CFG
  of 1.5 and Text CFG of 7.5" (README, Tips; ``edit_app.py`` defaults). ``edit_cli.py`` alone defaults to an
  image CFG of 1.2;
- ``scheduler=euler_ancestral``: the authors sample with k-diffusion's Euler ancestral sampler, diffusers'
  ``EulerAncestralDiscreteScheduler`` (the README's diffusers example swaps it in too). ``checkpoint`` keeps
  the scheduler the model repository ships;
- output size: the source image fitted (centre crop, Lanczos) to a size whose longer side is about
  ``resolution`` and whose sides are multiples of 64, the rule of ``edit_cli.py``;
- no safety checker, as in the authors' scripts (``safety_checker=true`` loads the checkpoint's).

Prompt mapping: the pipeline gets the plain instruction (``request.prompt``) and the source image.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image, ImageOps

from mige_eval.adapters.options import choice, flag, non_negative_float
from mige_eval.baselines._diffusers import DiffusersAdapter, plain_text, require_image, safety_checker_kwargs
from mige_eval.types import Request

SCHEDULERS = ("euler_ancestral", "checkpoint")


def edit_size(source_size: tuple[int, int], resolution: int) -> tuple[int, int]:
    """InstructPix2Pix's output size for a source: longer side near ``resolution``, sides multiples of 64."""
    width, height = source_size
    factor = resolution / max(width, height)
    factor = math.ceil(min(width, height) * factor / 64) * 64 / min(width, height)
    return (max(64, int(width * factor // 64) * 64), max(64, int(height * factor // 64) * 64))


class InstructPix2Pix(DiffusersAdapter):
    name = "instructpix2pix"
    tasks = frozenset({"edit"})
    description = "InstructPix2Pix (Brooks et al., CVPR 2023), timbrooks/instruct-pix2pix via diffusers"
    license = "MIT (model card)"
    pipeline_class = "StableDiffusionInstructPix2PixPipeline"
    default_model_id = "timbrooks/instruct-pix2pix"

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 100,
        guidance_scale: float = 7.5,
        image_guidance_scale: float = 1.5,
        resolution: int = 512,
        scheduler: str = "euler_ancestral",
        safety_checker: bool = False,
        cpu_offload: bool = False,
        attention_slicing: bool = False,
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        self.image_guidance_scale = non_negative_float("image_guidance_scale", image_guidance_scale)
        self.scheduler = choice("scheduler", scheduler, SCHEDULERS)
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
        return {
            "guidance_scale": self.guidance_scale,
            "image_guidance_scale": self.image_guidance_scale,
            "scheduler": self.scheduler,
            "safety_checker": self.safety_checker,
        }

    def _load_kwargs(self) -> dict[str, Any]:
        return safety_checker_kwargs(self.safety_checker)

    def _prepare(self, pipe: Any) -> None:
        if self.scheduler == "euler_ancestral":
            from diffusers import EulerAncestralDiscreteScheduler

            pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)

    def native_size(self, request: Request) -> tuple[int, int]:
        return edit_size(self._source(request).size, self.resolution)

    def _source(self, request: Request) -> Image.Image:
        return require_image(request, "source", self.name, "instruction editing changes a given image")

    def _inputs(self, request: Request) -> dict[str, Any]:
        source = self._source(request).convert("RGB")
        return {
            "prompt": plain_text(request),
            "image": ImageOps.fit(source, self.generation_size(request), method=Image.Resampling.LANCZOS),
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "image_guidance_scale": self.image_guidance_scale,
        }
