"""What the reference-image editors share: FLUX.1 Kontext, Qwen-Image-Edit, FLUX.2 and LongCat-Image-Edit.

These models condition on whole images placed in their context (no mask, no separate subject encoder), work
near one megapixel and choose the output's aspect ratio themselves. On top of :class:`DiffusersAdapter`
(seeds, one call per request, lazy loading, offline errors, memory options) this base fixes:

- **conditioning images**: the request's instruction images in their order (MIGEBench add: entity then
  source; replace: source then entity; DreamBench: the subject photo); an instruction without placeholders
  (Emu Edit, MagicBrush) conditions on the source image alone. More images than the model's authors support
  (:attr:`ReferenceEditor.max_images`) fail the sample with the limit and where it is stated;
- **prompt**: with one conditioning image the plain instruction (``request.prompt``, else the instruction
  without its placeholder) — the single image needs no name; with several, the k-th ``<imagehere>`` becomes the
  model's own name for its k-th image (:attr:`ReferenceEditor.reference_name`, e.g. "Picture 2");
- **size**: the model runs at its native size (:meth:`ReferenceEditor.native_size`, derived from the image the
  output should match: the source, else the first conditioning image) whatever the benchmark asks, and the
  result is resized to ``request.size`` afterwards; the native size travels as ``image.info["native_size"]``;
- **precision**: ``dtype=auto`` is bf16 on CUDA, the precision every one of these model cards loads.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from PIL import Image

from mige_eval.adapters.options import non_negative_float
from mige_eval.baselines._diffusers import DiffusersAdapter, plain_text, split_placeholders
from mige_eval.types import Request


def named_references(instruction: str, name: str) -> str:
    """The instruction with its k-th ``<imagehere>`` replaced by ``name.format(k=k)``, whitespace collapsed."""
    pieces = split_placeholders(instruction)
    text = pieces[0] + "".join(name.format(k=k) + piece for k, piece in enumerate(pieces[1:], start=1))
    return " ".join(text.split())


def floor_to(value: float, multiple: int) -> int:
    """``value`` rounded down to a multiple of ``multiple``, at least one multiple."""
    return max(multiple, int(value) // multiple * multiple)


class ReferenceEditor(DiffusersAdapter):
    """Base class of the reference-image editors (see the module docstring)."""

    cuda_dtype = "bf16"
    size_multiple = 16
    #: Most conditioning images the model takes, and where its authors say so (for the error message).
    max_images: ClassVar[int] = 1
    max_images_source: ClassVar[str] = "a single input image"
    #: How the model's prompts name their k-th image (``{k}`` is replaced); unused when ``max_images`` is 1.
    reference_name: ClassVar[str] = ""

    def conditioning(self, request: Request) -> tuple[str, list[Image.Image]]:
        """(prompt, conditioning images in order) for ``request``; checks the number of images."""
        images = list(request.instruction_images) or ([request.source] if request.source is not None else [])
        if not images:
            raise ValueError(
                f"{self.name}: sample {request.id} has neither instruction images nor a source image to condition on"
            )
        if len(images) > self.max_images:
            raise ValueError(
                f"{self.name}: sample {request.id} has {len(images)} conditioning images; the model takes at most "
                f"{self.max_images} ({self.max_images_source})"
            )
        prompt = plain_text(request) if len(images) == 1 else named_references(request.instruction, self.reference_name)
        return prompt, [image.convert("RGB") for image in images]

    def size_reference(self, request: Request) -> Image.Image:
        """The image whose shape the output follows: the source, else the first conditioning image."""
        if request.source is not None:
            return request.source
        return self.conditioning(request)[1][0]

    def native_size(self, request: Request) -> tuple[int, int]:
        return self.model_size(self.size_reference(request).size)

    @abc.abstractmethod
    def model_size(self, reference_size: tuple[int, int]) -> tuple[int, int]:
        """The (width, height) the model generates at for a reference image of this size."""

    def generation_size(self, request: Request) -> tuple[int, int]:
        """Always the native size: these models are run at the size they choose, then resized."""
        return self.native_size(request)

    def pipeline_inputs(self, request: Request) -> dict[str, Any]:
        self.output_size(request)  # the generation ignores request.size: check it before any work all the same
        return super().pipeline_inputs(request)


class GuidedEditor(ReferenceEditor):
    """An editor sampled with a step count and one (distilled) guidance scale and nothing else: FLUX.1 Kontext,
    FLUX.2. ``steps`` / ``guidance_scale`` left unset take the model's published values
    (:attr:`default_steps`, :attr:`default_guidance_scale`); ``config()`` records the values used."""

    default_steps: ClassVar[int] = 1
    default_guidance_scale: ClassVar[float] = 1.0

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int | None = None,
        guidance_scale: float | None = None,
        resolution: int = 1024,
        cpu_offload: bool = False,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> None:
        self.guidance_scale = non_negative_float(
            "guidance_scale", self.default_guidance_scale if guidance_scale is None else guidance_scale
        )
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=self.default_steps if steps is None else steps,
            resolution=resolution,
            cpu_offload=cpu_offload,
            attention_slicing=False,
            group_offload=group_offload,
            quantize=quantize,
        )

    def _settings(self) -> dict[str, Any]:
        return {"guidance_scale": self.guidance_scale}
