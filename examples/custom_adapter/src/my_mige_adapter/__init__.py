"""A minimal mige-eval adapter: posterizes the source image (or the subject photo on a blank canvas).

It stands in for a real model: replace the body of ``generate`` with your pipeline call.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageOps

from mige_eval.types import Adapter, Request


class Posterize(Adapter):
    name = "posterize"
    tasks = frozenset({"edit", "subject", "subject_add", "subject_replace"})

    def __init__(self, *, bits: int = 3):
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be between 1 and 8, got {bits}")
        self.bits = bits

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        outputs = []
        for req in requests:
            image = req.source if req.source is not None else req.instruction_images[0]
            if req.size is not None:
                image = image.resize(req.size, Image.Resampling.BICUBIC)
            outputs.append(ImageOps.posterize(image, self.bits))
        return outputs

    def config(self) -> dict:
        return {"bits": self.bits}
