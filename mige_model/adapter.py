"""``--model mige``: MIGE behind the adapter interface, a chunk of samples at a time.

What each task gives the pipeline (docs/mige_model.md):

- ``subject`` (DreamBench): the instruction in the authors' spelling, no whitespace around a placeholder
  (the benchmark's readable ``"a <imagehere> in the jungle"`` becomes ``"a<imagehere>in the jungle"``, as
  their files write it: :func:`mige_model.text.authors_placeholder_spacing`), with the instruction images
  (the subject photos as the benchmark gives them), blank canvas;
- ``edit`` (Emu Edit, MagicBrush): the instruction, rewritten as the released scripts do, with the
  source as its one reference image and as the conditional latent; Emu Edit's ``global`` task gets the
  `` of<imagehere>`` ending, every other edit `` in<imagehere>``;
- ``subject_add`` / ``subject_replace`` (MIGEBench): the multimodal instruction as published and its
  images, the source as the conditional latent.

Speed (``batch_size=``, ``offload_text_encoder=``): the runner hands over ``--batch-size`` requests at a
time; they are encoded together (T5 on the GPU once for the chunk), then sampled ``batch_size`` samples
per DiT batch (default 1: a batch changes pixels by the rounding of batched products, docs/mige_model.md),
then decoded. ``offload_text_encoder=auto`` keeps T5 on the GPU when the card holds the whole model.
A request whose inputs are refused (placeholders and images that do not match) fails before anything is
computed, and the runner then retries the chunk's requests one by one.

Noise (``noise=``): ``per-sample`` (default) seeds every random draw of a sample with the sample's own
seed, so an image never depends on order or sharding. The released scripts instead seed once: after 30
throw-away CPU draws, every VAE posterior sample of the run comes from the CPU stream, in sample order,
and every batch's initial noise is one ``randn(batch, 4, 64, 64)`` from the device stream.
``noise=authors`` keeps those two streams (:func:`mige_model.pipeline.authors_generators`, seeded once
with ``authors_seed``) across the whole run, in the order the samples come, and draws each sampling
batch's noise in one call: the posterior draws match the scripts' for the same samples in the same order,
and the initial noise too when ``batch_size`` and the runner's ``--batch-size`` equal the scripts' batch
(5 subject, 25 edit and MIGEBench) and every batch is full.

Placeholders (``empty_slots=``): an edit instruction that names the image twice ("change the image so
that … in the image") gets two placeholders for its one reference; such a sample fails by default, and
``empty_slots=true`` splices as the released code does (empty slots for the surplus placeholders, text
after the fourth placeholder dropped but for the last segment; 2 of Emu Edit's 3,589 rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from mige_eval.adapters.options import choice, flag, non_negative_float, positive_int
from mige_eval.runtime import resolve_device
from mige_eval.types import TASKS, Adapter, Request
from mige_model.text import authors_placeholder_spacing

NOISE_MODES = ("per-sample", "authors")
#: Bumped whenever the same options give different images (a resumed run then refuses to mix the two):
#: 2 = transformers 4.33.2 segment ids, the authors' DreamBench spelling, bf16-rounded Q-Former input.
CODE_VERSION = 2


class MIGEAdapter(Adapter):
    name = "mige"
    tasks = frozenset(TASKS)
    description = "MIGE (ACM MM 2025): our re-implementation of its inference, the authors' EurekaTian/MIGE weights"
    license = "see the EurekaTian/MIGE model card"

    def __init__(
        self,
        *,
        model_id: str = "EurekaTian/MIGE",
        revision: str | None = None,
        device: str = "auto",
        precision: str | None = None,
        steps: int | None = None,
        text_scale: float | None = None,
        source_scale: float | None = None,
        offload_text_encoder: bool | str = "auto",
        noise: str = "per-sample",
        authors_seed: int = 0,
        empty_slots: bool = False,
        batch_size: int = 1,
    ) -> None:
        from mige_model.pipeline import PRECISIONS

        self.model_id, self.revision = str(model_id), revision
        self.device = resolve_device(device)
        self.precision = choice(
            "precision", precision or ("bf16" if self.device.startswith("cuda") else "fp32"), PRECISIONS
        )
        self.steps = None if steps is None else positive_int("steps", steps)
        self.text_scale = None if text_scale is None else non_negative_float("text_scale", text_scale)
        self.source_scale = None if source_scale is None else non_negative_float("source_scale", source_scale)
        self.offload_text_encoder = (
            offload_text_encoder
            if offload_text_encoder == "auto"
            else flag("offload_text_encoder", offload_text_encoder)
        )
        self.batch_size = positive_int("batch_size", batch_size)
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
        return {
            "code_version": CODE_VERSION,
            "model_id": self.model_id,
            "revision": self.revision,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "noise": self.noise,
            **({"authors_seed": self.authors_seed} if self.noise == "authors" else {}),
            "empty_slots": self.empty_slots,
            "settings": defaults,
        }

    def pipeline(self):
        if self._pipeline is None:
            from mige_model.pipeline import MIGEPipeline

            self._pipeline = MIGEPipeline.from_pretrained(
                self.model_id,
                revision=self.revision,
                device=self.device,
                precision=self.precision,
                offload_text_encoder=self.offload_text_encoder,
            )
        return self._pipeline

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        pipe = self.pipeline()
        jobs = [self._job(pipe, request) for request in requests]
        images = pipe.generate(jobs, batch_size=self.batch_size)
        return [
            image
            if not request.size or image.size == tuple(request.size)
            else image.resize(tuple(request.size), Image.Resampling.BICUBIC)
            for request, image in zip(requests, images)
        ]

    def _job(self, pipe, request: Request):
        instruction = request.instruction
        if request.task == "subject":
            instruction = authors_placeholder_spacing(instruction)
        images = [] if request.task == "edit" else list(request.instruction_images)
        generator, noise_generator = self._generators(pipe)
        try:
            return pipe.job(
                instruction,
                images,
                request.source,
                task=request.task,
                seed=request.seed,
                steps=self.steps,
                text_scale=self.text_scale,
                source_scale=self.source_scale,
                global_edit=request.subset == "global",
                generator=generator,
                noise_generator=noise_generator,
                empty_slots=self.empty_slots,
            )
        except ValueError as error:
            raise ValueError(f"sample {request.id}: {error}") from None

    def _generators(self, pipe):
        """(None, None): the pipeline seeds from the sample; with ``noise=authors``, the run's two streams."""
        if self.noise != "authors":
            return None, None
        if self._authors_generators is None:
            from mige_model.pipeline import authors_generators

            self._authors_generators = authors_generators(self.authors_seed, self.device, pipe.config.image_size)
        return self._authors_generators
