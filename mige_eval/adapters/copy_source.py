"""``copy-source``: the paper's "I-O sim" reference row, a model that changes nothing.

For edit-like tasks (``edit``, ``subject_add``, ``subject_replace``) it returns the conditional input
image; for subject-driven generation (blank canvas) it returns the subject photo given in the
instruction. Its scores measure how similar the inputs already are to the references.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from mige_eval.types import TASKS, Adapter, Request


class CopySource(Adapter):
    name = "copy-source"
    tasks = frozenset(TASKS)
    description = "The paper's I-O sim row: returns the input image (or the subject photo) unchanged"
    license = "none (no weights)"

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        outputs = []
        for req in requests:
            if req.source is not None:
                outputs.append(req.source)
            elif req.instruction_images:
                outputs.append(req.instruction_images[0])
            else:
                raise ValueError(f"sample {req.id} has neither a source image nor an instruction image to copy")
        return outputs

    def config(self) -> dict:
        return {"returns": "source image, else the first instruction image"}
