"""``--model mige``: MIGE behind the adapter interface, one sample at a time.

What each task gives the pipeline (MIGE_MODEL.md §3):

- ``subject`` (DreamBench): the instruction with its ``<imagehere>`` slots and the instruction images
  (the subject photos as the benchmark gives them), blank canvas;
- ``edit`` (Emu Edit, MagicBrush): the instruction, rewritten as the released scripts do, with the
  source as its one reference image and as the conditional latent; Emu Edit's ``global`` task gets the
  `` of<imagehere>`` ending, every other edit `` in<imagehere>``;
- ``subject_add`` / ``subject_replace`` (MIGEBench): the multimodal instruction and its images, the
  source as the conditional latent.

Noise (``noise=``): ``per-sample`` (default) seeds every random draw of a sample with the sample's own
seed, so an image never depends on batch size, order or sharding. The released scripts instead seed
once: after 30 throw-away CPU draws, every VAE posterior sample of the run comes from the CPU stream,
in sample order, and every batch's initial noise from the device stream. ``noise=authors`` keeps those
two streams (:func:`mige_model.pipeline.authors_generators`, seeded once with ``authors_seed``) across
the whole run, in the order the samples come. The posterior draws then match the scripts' for the same
samples in the same order; the initial noise matches only for a batch size of 1, since the scripts
draw ``randn(batch, 4, 64, 64)`` on CUDA per batch of 5 (subject) or 25 (edit, MIGEBench).

Placeholders (``empty_slots=``): an edit instruction that names the image twice ("change the image so
that … in the image") gets two placeholders for its one reference; such a sample fails by default, and
``empty_slots=true`` gives the surplus placeholders an empty slot's tokens, as the released code does
(2 of Emu Edit's 3,589 rows).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from mige_eval.adapters.options import choice, flag, non_negative_float, positive_int
from mige_eval.runtime import resolve_device
from mige_eval.types import TASKS, Adapter, Request

NOISE_MODES = ("per-sample", "authors")


class MIGEAdapter(Adapter):
    name = "mige"
    tasks = frozenset(TASKS)
    description = "MIGE (ACM MM 2025): our re-implementation of its inference, the authors' EurekaTian/MIGE weights"
    license = "see the EurekaTian/MIGE model card"

    def __init__(self, *, model_id: str = "EurekaTian/MIGE", revision: str | None = None, device: str = "auto",
                 precision: str | None = None, steps: int | None = None, text_scale: float | None = None,
                 source_scale: float | None = None, offload_text_encoder: bool = True,
                 noise: str = "per-sample", authors_seed: int = 0, empty_slots: bool = False) -> None:
        from mige_model.pipeline import PRECISIONS

        self.model_id, self.revision = str(model_id), revision
        self.device = resolve_device(device)
        self.precision = choice("precision", precision or ("bf16" if self.device.startswith("cuda") else "fp32"),
                                PRECISIONS)
        self.steps = None if steps is None else positive_int("steps", steps)
        self.text_scale = None if text_scale is None else non_negative_float("text_scale", text_scale)
        self.source_scale = None if source_scale is None else non_negative_float("source_scale", source_scale)
        self.offload_text_encoder = flag("offload_text_encoder", offload_text_encoder)
        self.noise = choice("noise", noise, NOISE_MODES)
        self.authors_seed = authors_seed
        self.empty_slots = flag("empty_slots", empty_slots)
        self._pipeline = None
        self._authors_generators = None

    def config(self) -> dict[str, Any]:
        from mige_model.pipeline import default_settings

        defaults = {task: dict(zip(("steps", "text_scale", "source_scale"), default_settings(task))) for task in TASKS}
        for settings in defaults.values():
            settings["steps"] = self.steps or settings["steps"]
            settings["text_scale"] = settings["text_scale"] if self.text_scale is None else self.text_scale
            if settings["source_scale"] is not None and self.source_scale is not None:
                settings["source_scale"] = self.source_scale
        return {"model_id": self.model_id, "revision": self.revision, "precision": self.precision,
                "noise": self.noise, **({"authors_seed": self.authors_seed} if self.noise == "authors" else {}),
                "empty_slots": self.empty_slots, "settings": defaults}

    def pipeline(self):
        if self._pipeline is None:
            from mige_model.pipeline import MIGEPipeline

            self._pipeline = MIGEPipeline.from_pretrained(
                self.model_id, revision=self.revision, device=self.device, precision=self.precision,
                offload_text_encoder=self.offload_text_encoder)
        return self._pipeline

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        pipe = self.pipeline()
        return [self._one(pipe, request) for request in requests]

    def _one(self, pipe, request: Request) -> Image.Image:
        images = [] if request.task == "edit" else list(request.instruction_images)
        generator, noise_generator = self._generators(pipe)
        image = pipe(request.instruction, images, request.source, task=request.task, seed=request.seed,
                     steps=self.steps, text_scale=self.text_scale, source_scale=self.source_scale,
                     global_edit=request.subset == "global", generator=generator, noise_generator=noise_generator,
                     empty_slots=self.empty_slots)
        if request.size and image.size != tuple(request.size):
            image = image.resize(tuple(request.size), Image.Resampling.BICUBIC)
        return image

    def _generators(self, pipe):
        """(None, None): the pipeline seeds from the sample; with ``noise=authors``, the run's two streams."""
        if self.noise != "authors":
            return None, None
        if self._authors_generators is None:
            from mige_model.pipeline import authors_generators

            self._authors_generators = authors_generators(self.authors_seed, self.device, pipe.config.image_size)
        return self._authors_generators
