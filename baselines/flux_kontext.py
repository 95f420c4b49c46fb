"""``flux-kontext``: FLUX.1 Kontext [dev] (Black Forest Labs, 2025) through diffusers' ``FluxKontextPipeline``.

Published inference settings, all overridable with ``--model-arg``:

- weights ``black-forest-labs/FLUX.1-Kontext-dev`` (gated: accept the licence on the model page, then
  ``hf download``); no commit is published, so ``revision`` defaults to ``main``;
- ``steps=28``, ``guidance_scale=2.5``: the model card's diffusers example (``guidance_scale=2.5`` with the
  pipeline's default 28 steps). BFL's own ``cli_kontext.py`` samples 30 steps at the same guidance;
- output size: the Kontext resolution (BFL's ``PREFERRED_KONTEXT_RESOLUTIONS``, about one megapixel, sides
  multiples of 16) whose aspect ratio is nearest the conditioning image's. ``cli_kontext.py`` generates at
  exactly that size by default; the adapter passes it as ``height``/``width`` with ``max_area = width x height``
  so that the pipeline's area rescaling keeps it. ``resolution`` scales the table (1024: the table itself);
- the pipeline resizes the input image to the same table itself (``_auto_resize``, as the CLI does).

Prompt mapping: Kontext takes one image and no image tokens, so the prompt is the plain instruction (DreamBench:
the caption, "a dog in the jungle", with the subject photo as the image; Emu Edit / MagicBrush: the instruction
with the source). Tasks: ``edit`` and ``subject`` (one reference image).
"""

from __future__ import annotations

from typing import Any

from mige_eval.baselines._editors import GuidedEditor, floor_to
from mige_eval.types import Request

#: (width, height) FLUX.1 Kontext was trained at (black-forest-labs/flux ``PREFERRED_KONTEXT_RESOLUTIONS``).
KONTEXT_RESOLUTIONS = (
    (672, 1568),
    (688, 1504),
    (720, 1456),
    (752, 1392),
    (800, 1328),
    (832, 1248),
    (880, 1184),
    (944, 1104),
    (1024, 1024),
    (1104, 944),
    (1184, 880),
    (1248, 832),
    (1328, 800),
    (1392, 752),
    (1456, 720),
    (1504, 688),
    (1568, 672),
)


def kontext_size(reference_size: tuple[int, int], resolution: int = 1024) -> tuple[int, int]:
    """The Kontext resolution nearest the reference's aspect ratio (ties: the narrower), scaled by resolution/1024."""
    width, height = reference_size
    aspect = width / height
    _, w, h = min((abs(aspect - w / h), w, h) for w, h in KONTEXT_RESOLUTIONS)
    scale = resolution / 1024
    return floor_to(w * scale, 16), floor_to(h * scale, 16)


class FluxKontext(GuidedEditor):
    name = "flux-kontext"
    tasks = frozenset({"edit", "subject"})
    description = "FLUX.1 Kontext [dev] (Black Forest Labs, 2025): in-context image editing, one input image"
    license = "FLUX.1 [dev] Non-Commercial License (non-commercial)"
    pipeline_class = "FluxKontextPipeline"
    default_model_id = "black-forest-labs/FLUX.1-Kontext-dev"
    quantizable = ("transformer", "text_encoder_2")
    default_steps = 28
    default_guidance_scale = 2.5

    def model_size(self, reference_size: tuple[int, int]) -> tuple[int, int]:
        return kontext_size(reference_size, self.resolution)

    def _inputs(self, request: Request) -> dict[str, Any]:
        prompt, images = self.conditioning(request)
        width, height = self.generation_size(request)
        return {
            "image": images[0],
            "prompt": prompt,
            "height": height,
            "width": width,
            "max_area": width * height,  # keeps (width, height): the pipeline rescales any size to this area
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
        }
