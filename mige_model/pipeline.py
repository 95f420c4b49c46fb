"""MIGE inference: multimodal instructions (and source images) in, images out.

    pipe = MIGEPipeline.from_pretrained("EurekaTian/MIGE", device="cuda", precision="bf16")
    image = pipe("add<imagehere>to<imagehere>", [entity, source], source=source, task="subject_add", seed=0)
    images = pipe.generate([pipe.job(...), pipe.job(...)], batch_size=5)

A call works on a chunk of samples (:class:`Job`), stage by stage (docs/mige_model.md):

1. for every sample, the prompt is built as the released scripts build it for the task
   (:mod:`mige_model.text`), checked against the images, and split at its placeholders;
2. encoding, T5 on the device once for the whole chunk: every reference image gives 32 instruction
   tokens (Q-Former view + VAE posterior sample, fused), spliced into the T5 input embeddings at the
   placeholders, and T5 encodes the instruction; for ``edit`` the conditional latent is the very
   posterior sample the source got as the reference image (the released edit script encodes the
   source once and uses that sample for both), for MIGEBench a second sample of the source, for
   subject generation zeros (×0.18215 where not zero); with ``offload_text_encoder`` T5 then goes
   back to the CPU;
3. sampling: DPM-Solver++ (order 2) with classifier-free guidance, ``batch_size`` samples of the same
   guidance (task kind, steps, scales) in one batch of branches;
4. the VAE decodes every latent, one sample at a time.

Random draws: every random tensor of a sample (one posterior sample per reference image, then for
MIGEBench one of the source, then the initial noise) comes, in that order, from one CPU generator
seeded with the sample's ``seed``, so an image depends on its inputs and seed alone, whatever else is
generated before or beside it; only the batch size can change it, by the rounding of batched matrix
products (docs/mige_model.md, "Batches"). ``generator=`` replaces that generator and ``noise_generator=``
the one of the initial noise: when the samples of a batch share one ``noise_generator`` their noise is one
``randn(batch, …)`` draw, as the released scripts draw it (the adapter's ``noise=authors`` mode passes
their two streams, :func:`authors_generators`).

Precision: ``fp32`` (default on the CPU), ``bf16`` / ``fp16`` (weights and activations), or ``authors``:
bf16 plus the released scripts' casts (timestep rounded to bf16, image encoder under float16 autocast
on CUDA). In every mode the image features reach the Q-Former rounded to bf16, as the released model
was trained (:meth:`MIGEModule.image_tokens`). The VAE runs in float32 in every mode: the released
scripts never cast it (only the MIGE module goes to bf16), so its posterior samples and the decoded
pixels are float32 computations there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from mige_eval.types import TASKS
from mige_model import sampler, text
from mige_model.checkpoint import Components, load_components
from mige_model.dit import concat_condition
from mige_model.images import qformer_view, to_image, vae_view
from mige_model.memory import resolve_offload, weight_bytes
from mige_model.splice import released_slots, splice, tokenize_segments
from mige_model.t5_tokens import LegacyT5Tokenizer

DEFAULT_MODEL_ID = "EurekaTian/MIGE"
PRECISIONS = ("fp32", "bf16", "fp16", "authors")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "authors": torch.bfloat16}
#: The released scripts load the VAE in float32 and never cast it.
VAE_DTYPE = torch.float32
#: The released scripts' ``set_env`` draws this many ``randn(1, 4, image_size, image_size)`` on the CPU
#: right after seeding, before any posterior sample.
AUTHORS_WARMUP_DRAWS = 30


def default_settings(task: str) -> tuple[int, float, float | None]:
    """(steps, instruction guidance s_y, source guidance s_s or None) of the released scripts."""
    if task == "subject":
        return sampler.SUBJECT_STEPS, sampler.SUBJECT_TEXT_SCALE, None
    return sampler.EDIT_STEPS, sampler.EDIT_TEXT_SCALE, sampler.EDIT_SOURCE_SCALE


def build_prompt(task: str, instruction: str, *, global_edit: bool = False) -> str:
    """The prompt the released scripts give MIGE for ``task``."""
    if task == "subject":
        return text.subject_prompt(instruction)
    if task == "edit":
        return text.edit_prompt(instruction, global_edit=global_edit)
    if task in ("subject_add", "subject_replace"):
        return text.migebench_prompt(instruction)
    raise ValueError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")


def authors_generators(
    seed: int, device: str | torch.device, image_size: int
) -> tuple[torch.Generator, torch.Generator]:
    """The released scripts' two random streams after ``set_env(seed)``: (posterior, noise).

    ``torch.manual_seed(seed)`` seeds the CPU and the CUDA generator alike; ``set_env`` then draws 30
    throw-away CPU tensors of 1×4×image_size×image_size, every VAE posterior sample is a CPU draw
    (``randn_tensor`` on the posterior's CPU copy), and the initial noise is drawn on the run's device.
    """
    posterior = torch.Generator("cpu").manual_seed(seed)
    for _ in range(AUTHORS_WARMUP_DRAWS):
        torch.randn(1, 4, image_size, image_size, generator=posterior)
    return posterior, torch.Generator(device).manual_seed(seed)


@dataclass
class Job:
    """One sample, checked and ready to generate (:meth:`MIGEPipeline.job`)."""

    task: str
    prompt: str
    #: The prompt's text segments as they are spliced (with ``empty_slots``, as the released code keeps them).
    segments: list[str]
    references: list[Image.Image]
    source: Image.Image | None
    #: Empty image slots spliced after the references (``empty_slots``).
    empty_slots: int
    steps: int
    text_scale: float
    source_scale: float | None
    #: The sample's random stream (posterior samples, then the initial noise unless ``noise_generator``).
    generator: torch.Generator
    noise_generator: torch.Generator | None = None

    @property
    def guidance(self) -> tuple:
        """What samples sharing a sampling batch must have in common."""
        return self.task == "subject", self.steps, self.text_scale, self.source_scale


@dataclass
class Encoded:
    """A sample after the encoding stage: T5 caption tokens 1×L×D, mask 1×L, conditional latent or None."""

    caption: torch.Tensor
    mask: torch.Tensor
    condition: torch.Tensor | None


class MIGEPipeline:
    """The loaded components on one device, in one precision.

    ``offload_text_encoder``: ``"auto"`` (default) keeps T5 on the GPU when the whole model fits with room
    to sample (:mod:`mige_model.memory`), else keeps it on the CPU and moves it to the GPU once per chunk;
    ``True`` / ``False`` force either. On the CPU nothing is offloaded.
    """

    def __init__(
        self,
        components: Components,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        offload_text_encoder: bool | str = "auto",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision != "fp32" and not str(device).startswith("cuda"):
            raise ValueError(f"precision {precision} needs a CUDA device (got {device}); use precision=fp32 on the CPU")
        self.components, self.config = components, components.config
        self.device, self.precision, self.dtype = torch.device(device), precision, _DTYPES[precision]
        self.offload_text_encoder = resolve_offload(
            offload_text_encoder,
            self.device,
            text_encoder_bytes=weight_bytes(components.text_encoder, self.dtype),
            other_bytes=weight_bytes(components.module, self.dtype) + weight_bytes(components.vae, VAE_DTYPE),
        )
        self.module = components.module.to(device=self.device, dtype=self.dtype).eval()
        self.vae = components.vae.to(device=self.device, dtype=VAE_DTYPE).eval()
        text_device = "cpu" if self.offload_text_encoder else self.device
        self.text_encoder = components.text_encoder.to(device=text_device, dtype=self.dtype).eval()
        self.tokenizer = LegacyT5Tokenizer(components.tokenizer)

    @classmethod
    def from_pretrained(
        cls,
        model_id: str | os.PathLike = DEFAULT_MODEL_ID,
        *,
        revision: str | None = None,
        device: str = "cpu",
        precision: str = "fp32",
        offload_text_encoder: bool | str = "auto",
    ) -> MIGEPipeline:
        """Load the released files (hub id or local folder) or a ``mige-eval convert-mige`` folder."""
        return cls(
            load_components(model_id, revision=revision),
            device=device,
            precision=precision,
            offload_text_encoder=offload_text_encoder,
        )

    def __call__(
        self, instruction: str, images: Sequence[Image.Image] = (), source: Image.Image | None = None, **options
    ) -> Image.Image:
        """One image for one instruction; ``options`` as for :meth:`job`."""
        return self.generate([self.job(instruction, images, source, **options)])[0]

    def job(
        self,
        instruction: str,
        images: Sequence[Image.Image] = (),
        source: Image.Image | None = None,
        *,
        task: str | None = None,
        seed: int = 0,
        steps: int | None = None,
        text_scale: float | None = None,
        source_scale: float | None = None,
        global_edit: bool = False,
        generator: torch.Generator | None = None,
        noise_generator: torch.Generator | None = None,
        empty_slots: bool = False,
    ) -> Job:
        """One sample, its prompt built and its inputs checked (nothing is computed yet).

        ``task`` defaults to ``subject`` without a source, else ``edit`` when no instruction images are
        given, else ``subject_add``; ``edit`` uses the source as its one reference image (the rewritten
        instruction's placeholder). A prompt whose placeholders do not match its images is refused, unless
        ``empty_slots`` and there are more placeholders than images: then the released code's splice is
        reproduced (:func:`mige_model.splice.released_slots`: empty slots for the surplus placeholders, the
        text between the fourth and the last placeholder dropped)."""
        task = task or ("subject" if source is None else "edit" if not images else "subject_add")
        prompt = build_prompt(task, instruction, global_edit=global_edit)
        self._check_inputs(task, images, source)
        references = [source] if task == "edit" else list(images)
        segments, empty = self._slots(prompt, references, task, allowed=empty_slots)
        default_steps, default_text, default_source = default_settings(task)
        return Job(
            task=task,
            prompt=prompt,
            segments=segments,
            references=references,
            source=source,
            empty_slots=empty,
            steps=steps or default_steps,
            text_scale=default_text if text_scale is None else text_scale,
            source_scale=default_source if source_scale is None else source_scale,
            generator=generator or torch.Generator("cpu").manual_seed(seed),
            noise_generator=noise_generator,
        )

    @torch.no_grad()
    def generate(self, jobs: Sequence[Job], *, batch_size: int = 1) -> list[Image.Image]:
        """One image per job, in order: every job encoded (T5 on the device once), then sampled
        ``batch_size`` at a time among jobs of the same guidance, then decoded one by one."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        encoded = self.encode(jobs)
        latents: list[torch.Tensor | None] = [None] * len(jobs)
        for batch in sampling_batches(jobs, batch_size):
            sampled = self.sample([encoded[i] for i in batch], [jobs[i] for i in batch])
            for index, latent in zip(batch, sampled):
                latents[index] = latent[None]
        return [self.decode(latent) for latent in latents]

    def encode(self, jobs: Sequence[Job]) -> list[Encoded]:
        """The encoding stage of every job, in order, T5 on the device for the whole chunk."""
        with self._text_encoder_on_device() as encoder:
            return [self._encode_one(job, encoder) for job in jobs]

    def _encode_one(self, job: Job, encoder: torch.nn.Module) -> Encoded:
        fit = "pad" if job.task == "subject" else "crop"  # the released subject script letterboxes
        posteriors = [self.posterior(image, fit=fit) for image in job.references]
        latents = [self.sample_posterior(posterior, job.generator) for posterior in posteriors]
        caption, mask = self.encode_instruction(
            job.segments, job.references, latents, encoder=encoder, empty_slots=job.empty_slots
        )
        if job.task == "subject":
            condition = None
        elif job.task == "edit":
            condition = latents[0] * self.config.vae_scale
        else:  # a second draw, from the posterior the source already has when it is an instruction image
            known = next((p for image, p in zip(job.references, posteriors) if image is job.source), None)
            condition = (
                self.sample_posterior(known or self.posterior(job.source), job.generator) * self.config.vae_scale
            )
        return Encoded(caption, mask, condition)

    @staticmethod
    def _check_inputs(task: str, images: Sequence[Image.Image], source: Image.Image | None) -> None:
        """Refuse inputs the task would silently leave unused."""
        if task == "subject" and source is not None:
            raise ValueError(
                "subject generation starts from a blank canvas and does not use source=; "
                "use task='edit', 'subject_add' or 'subject_replace' to change a source image"
            )
        if task == "edit" and images:
            raise ValueError(
                "edit: the source is the one reference image and instruction images are not used; "
                "use task='subject_add' or 'subject_replace' for an instruction with images"
            )
        if task != "subject" and source is None:
            raise ValueError(f"task {task} edits a source image: pass source=")

    def _slots(self, prompt: str, references: list, task: str, *, allowed: bool) -> tuple[list[str], int]:
        """The segments to splice and the number of empty slots; any mismatch not ``allowed`` is an error."""
        segments = text.split_at_placeholders(prompt)
        found, given, slots = len(segments) - 1, len(references), self.config.max_images
        if given > slots:
            raise ValueError(f"{task}: {given} images, MIGE takes at most {slots} images")
        if found == given:
            return segments, 0
        if found < given or not allowed:
            hint = (
                " (or empty_slots=true to splice empty slots for the surplus, as the released code does)"
                if found > given
                else ""
            )
            raise ValueError(
                f"{task}: the prompt has {found} <imagehere> placeholder(s) but {given} image(s) were "
                f"given; give one image per placeholder, in order{hint}"
            )
        return released_slots(segments, given, slots=slots)

    def _draw(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=torch.float32)
        return noise.to(self.device)

    def posterior(self, image: Image.Image, *, fit: str = "crop") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std (float32, 1×4×h×w) of the VAE posterior of the 512 view."""
        pixels = vae_view(image, self.config.image_size, fit=fit)[None].to(self.device, VAE_DTYPE)
        posterior = self.vae.encode(pixels).latent_dist
        return posterior.mean.float(), posterior.std.float()

    def sample_posterior(
        self, posterior: tuple[torch.Tensor, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """mean + std·noise, the noise drawn from ``generator``; unscaled."""
        mean, std = posterior
        return mean + std * self._draw(mean.shape, generator)

    def encode_instruction(
        self,
        segments: Sequence[str],
        references: Sequence[Image.Image],
        latents: Sequence[torch.Tensor],
        *,
        encoder: torch.nn.Module,
        empty_slots: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """T5 caption tokens 1×L×D and mask 1×L of the text ``segments`` with the reference images spliced
        between them; ``encoder`` is T5 on the device (:meth:`encode` provides it).

        ``latents``: each reference's posterior sample (:meth:`sample_posterior`), in the same order;
        ``empty_slots`` all-zero slots (pixels and latent) follow the references."""
        size = self.config.vision.image_size
        if references or empty_slots:
            latent_shape = (empty_slots, self.vae.config.latent_channels, *([self.config.dit.latent_size] * 2))
            pixels = torch.cat(
                [*(qformer_view(image, size)[None] for image in references), torch.zeros(empty_slots, 3, size, size)]
            )
            slots = torch.cat([*latents, torch.zeros(latent_shape, device=self.device)])
            tokens = self.module.image_tokens(pixels, slots.to(self.dtype), encoder_fp16=self._encoder_fp16)
        else:
            tokens = torch.zeros(0, self.config.qformer.query_tokens, self.config.t5_dim, dtype=self.dtype)
        ids = tokenize_segments(self.tokenizer, segments)
        embeds, mask = splice(ids, tokens, encoder.get_input_embeddings(), max_tokens=self.config.dit.caption_tokens)
        hidden = encoder(inputs_embeds=embeds[None], attention_mask=mask[None]).last_hidden_state
        return hidden.to(self.device), mask[None].to(self.device)

    @property
    def _encoder_fp16(self) -> bool:
        return self.precision == "authors" and self.device.type == "cuda"

    @contextlib.contextmanager
    def _text_encoder_on_device(self) -> Iterator[torch.nn.Module]:
        """T5 on the sampling device for the duration of the block; back to the CPU after, when offloading."""
        if not self.offload_text_encoder:
            yield self.text_encoder
            return
        try:
            yield self.text_encoder.to(self.device)
        finally:
            self.text_encoder.to("cpu")
            torch.cuda.empty_cache()

    def sample(self, encoded: Sequence[Encoded], jobs: Sequence[Job]) -> torch.Tensor:
        """The final latents B×4×h×w (float32) of jobs that share their guidance (:attr:`Job.guidance`)."""
        if len({job.guidance for job in jobs}) != 1 or len(encoded) != len(jobs):
            raise ValueError(
                "sample() takes one Encoded per job, all of the same task kind, steps and scales; "
                "group them with sampling_batches()"
            )
        first = jobs[0]
        conditions = None if encoded[0].condition is None else torch.cat([e.condition for e in encoded])
        return self.solve(
            torch.cat([e.caption for e in encoded]),
            torch.cat([e.mask for e in encoded]),
            conditions,
            self._initial_noise(jobs),
            steps=first.steps,
            text_scale=first.text_scale,
            source_scale=first.source_scale,
        )

    def _initial_noise(self, jobs: Sequence[Job]) -> torch.Tensor:
        """One ``randn(batch, …)`` from a noise generator all jobs share, else each job's own draw."""
        channels, size = self.module.dit.config.in_channels // 2, self.module.dit.config.latent_size
        shared = jobs[0].noise_generator
        if shared is not None and all(job.noise_generator is shared for job in jobs):
            return self._draw((len(jobs), channels, size, size), shared)
        return torch.cat([self._draw((1, channels, size, size), job.noise_generator or job.generator) for job in jobs])

    def solve(
        self,
        captions: torch.Tensor,
        masks: torch.Tensor,
        conditions: torch.Tensor | None,
        noise: torch.Tensor,
        *,
        steps: int,
        text_scale: float,
        source_scale: float | None,
    ) -> torch.Tensor:
        """DPM-Solver++ from ``noise`` (B×4×h×w) with two (subject: ``conditions`` None) or three branches
        per sample, stacked branch by branch: [null, instruction] on a blank canvas, or
        [null, null, instruction] × [zeros, source, source]; every null branch attends to as many tokens
        of the learned null caption as its sample's instruction has."""
        dit = self.module.dit
        channels = dit.config.in_channels // 2
        batch = captions.shape[0]
        null = dit.null_caption(batch)[:, : captions.shape[1]].to(captions.dtype)
        if conditions is None:
            all_captions, all_conditions = torch.cat([null, captions]), None
        else:
            zeros = torch.zeros_like(conditions)
            all_captions = torch.cat([null, null, captions])
            all_conditions = torch.cat([zeros, conditions, conditions])
        branches = all_captions.shape[0] // batch
        all_masks = masks.repeat(branches, 1)

        def guided_noise(x: torch.Tensor, t_input: float) -> torch.Tensor:
            timestep = torch.full((branches * batch,), t_input, dtype=torch.float32, device=self.device)
            if self.precision == "authors":
                timestep = timestep.to(torch.bfloat16).float()
            states = concat_condition(x.repeat(branches, 1, 1, 1), all_conditions)
            eps = sampler.split_branches(dit(states, timestep, all_captions, all_masks), branches, channels=channels)
            if conditions is None:
                return sampler.guide_subject(*eps, text_scale=text_scale)
            return sampler.guide_edit(*eps, text_scale=text_scale, source_scale=source_scale)

        return sampler.dpm_solver_pp_2m(guided_noise, noise, steps=steps)

    def decode(self, latent: torch.Tensor) -> Image.Image:
        decoded = self.vae.decode((latent / self.config.vae_scale).to(VAE_DTYPE)).sample
        return to_image(decoded[0])


def sampling_batches(jobs: Sequence[Job], batch_size: int) -> list[list[int]]:
    """Indices of ``jobs`` in sampling batches: jobs of one guidance (:attr:`Job.guidance`) together, in
    order of first appearance, at most ``batch_size`` per batch."""
    groups: dict[tuple, list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(job.guidance, []).append(index)
    return [
        group[start : start + batch_size] for group in groups.values() for start in range(0, len(group), batch_size)
    ]
