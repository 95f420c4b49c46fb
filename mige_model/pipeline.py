"""MIGE inference: a multimodal instruction (and a source image) in, one image out.

    pipe = MIGEPipeline.from_pretrained("EurekaTian/MIGE", device="cuda", precision="bf16")
    image = pipe("add <imagehere> to <imagehere>", [entity, source], source=source, task="subject_add", seed=0)

Per call, for one sample (MIGE_MODEL.md §2-§5):

1. the prompt is built as the released scripts build it for the task (:mod:`mige_model.text`);
2. every reference image gives 32 instruction tokens (Q-Former view + VAE posterior sample, fused);
3. they are spliced into the T5 input embeddings at the placeholders and T5 encodes the instruction;
   with ``offload_text_encoder`` T5 lives on the CPU and visits the GPU only for this step;
4. DPM-Solver++ (order 2) samples the latent with classifier-free guidance, the conditional latent
   being the source's VAE latent (×0.18215) for editing and zeros for subject generation; for ``edit``
   it is the very posterior sample the source got as the reference image (the released edit script
   encodes the source once and uses that sample for both), for MIGEBench a second sample of the source;
5. the VAE decodes it.

Every random tensor of a call (one posterior sample per reference image, then for MIGEBench one of the
source, then the initial noise) is drawn, in that order, from one generator seeded with ``seed`` on the
CPU, so an image depends on its inputs and seed alone, whatever else is generated before or beside it.
``generator=`` replaces that generator and ``noise_generator=`` the one of the initial noise (the
adapter's ``noise=authors`` mode passes the released scripts' two streams, :func:`authors_generators`).

Precision: ``fp32`` (default on the CPU), ``bf16`` / ``fp16`` (weights and activations), or ``authors``:
bf16 plus the released scripts' casts (timestep rounded to bf16, image encoder under float16 autocast
on CUDA). The VAE runs in float32 in every mode: the released scripts never cast it (only the MIGE
module goes to bf16), so its posterior samples and the decoded pixels are float32 computations there.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Sequence

import torch
from PIL import Image

from mige_eval.types import TASKS
from mige_model import sampler, text
from mige_model.checkpoint import Components, load_components
from mige_model.dit import concat_condition
from mige_model.images import qformer_view, to_image, vae_view
from mige_model.splice import splice, tokenize_segments

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


def authors_generators(seed: int, device: str | torch.device,
                       image_size: int) -> tuple[torch.Generator, torch.Generator]:
    """The released scripts' two random streams after ``set_env(seed)``: (posterior, noise).

    ``torch.manual_seed(seed)`` seeds the CPU and the CUDA generator alike; ``set_env`` then draws 30
    throw-away CPU tensors of 1×4×image_size×image_size, every VAE posterior sample is a CPU draw
    (``randn_tensor`` on the posterior's CPU copy), and the initial noise is drawn on the run's device.
    """
    posterior = torch.Generator("cpu").manual_seed(seed)
    for _ in range(AUTHORS_WARMUP_DRAWS):
        torch.randn(1, 4, image_size, image_size, generator=posterior)
    return posterior, torch.Generator(device).manual_seed(seed)


class MIGEPipeline:
    """The loaded components on one device, in one precision."""

    def __init__(self, components: Components, *, device: str = "cpu", precision: str = "fp32",
                 offload_text_encoder: bool = True) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision != "fp32" and not str(device).startswith("cuda"):
            raise ValueError(f"precision {precision} needs a CUDA device (got {device}); use precision=fp32 on the CPU")
        self.components, self.config = components, components.config
        self.device, self.precision, self.dtype = torch.device(device), precision, _DTYPES[precision]
        self.offload_text_encoder = offload_text_encoder and self.device.type == "cuda"
        self.module = components.module.to(device=self.device, dtype=self.dtype).eval()
        self.vae = components.vae.to(device=self.device, dtype=VAE_DTYPE).eval()
        text_device = "cpu" if self.offload_text_encoder else self.device
        self.text_encoder = components.text_encoder.to(device=text_device, dtype=self.dtype).eval()
        self.tokenizer = components.tokenizer

    @classmethod
    def from_pretrained(cls, model_id: str | os.PathLike = DEFAULT_MODEL_ID, *, revision: str | None = None,
                        device: str = "cpu", precision: str = "fp32", offload_text_encoder: bool = True) -> MIGEPipeline:
        """Load the released files (hub id or local folder) or a ``mige-eval convert-mige`` folder."""
        return cls(load_components(model_id, revision=revision), device=device, precision=precision,
                   offload_text_encoder=offload_text_encoder)

    @torch.no_grad()
    def __call__(self, instruction: str, images: Sequence[Image.Image] = (), source: Image.Image | None = None, *,
                 task: str | None = None, seed: int = 0, steps: int | None = None, text_scale: float | None = None,
                 source_scale: float | None = None, global_edit: bool = False,
                 generator: torch.Generator | None = None,
                 noise_generator: torch.Generator | None = None, empty_slots: bool = False) -> Image.Image:
        """One image for one instruction. ``task`` defaults to ``subject`` without a source, else ``edit``
        when no instruction images are given, else ``subject_add``; ``edit`` uses the source as its one
        reference image (the rewritten instruction's placeholder).

        A prompt with more placeholders than images is refused, unless ``empty_slots``: then each surplus
        placeholder gets the tokens of an empty image slot (zero pixels, zero latent), as the released code
        splices them (e.g. an edit instruction naming "the image" twice)."""
        task = task or ("subject" if source is None else "edit" if not images else "subject_add")
        prompt = build_prompt(task, instruction, global_edit=global_edit)
        self._check_inputs(task, images, source)
        references = [source] if task == "edit" else list(images)
        empty = self._empty_slots(prompt, references, task, allowed=empty_slots)
        default_steps, default_text, default_source = default_settings(task)
        generator = generator or torch.Generator("cpu").manual_seed(seed)
        fit = "pad" if task == "subject" else "crop"  # the released subject script letterboxes
        posteriors = [self.posterior(image, fit=fit) for image in references]
        latents = [self.sample_posterior(posterior, generator) for posterior in posteriors]
        caption, mask = self.encode_instruction(prompt, references, latents, empty_slots=empty)
        if task == "subject":
            condition = None
        elif task == "edit":
            condition = latents[0] * self.config.vae_scale
        else:  # a second draw, from the posterior the source already has when it is an instruction image
            known = next((p for image, p in zip(references, posteriors) if image is source), None)
            condition = self.sample_posterior(known or self.posterior(source), generator) * self.config.vae_scale
        latent = self.sample(caption, mask, condition, noise_generator or generator, steps=steps or default_steps,
                             text_scale=default_text if text_scale is None else text_scale,
                             source_scale=default_source if source_scale is None else source_scale)
        return self.decode(latent)

    @staticmethod
    def _check_inputs(task: str, images: Sequence[Image.Image], source: Image.Image | None) -> None:
        """Refuse inputs the task would silently leave unused."""
        if task == "subject" and source is not None:
            raise ValueError("subject generation starts from a blank canvas and does not use source=; "
                             "use task='edit', 'subject_add' or 'subject_replace' to change a source image")
        if task == "edit" and images:
            raise ValueError("edit: the source is the one reference image and instruction images are not used; "
                             "use task='subject_add' or 'subject_replace' for an instruction with images")
        if task != "subject" and source is None:
            raise ValueError(f"task {task} edits a source image: pass source=")

    def _empty_slots(self, prompt: str, references: list, task: str, *, allowed: bool) -> int:
        """How many placeholders get an empty slot (0 unless ``allowed``); any other mismatch is an error."""
        found = len(text.split_at_placeholders(prompt)) - 1
        surplus = found - len(references)
        if surplus and not (allowed and surplus > 0):
            raise ValueError(f"{task}: the prompt has {found} <imagehere> placeholder(s) but {len(references)} "
                             "image(s) were given; give one image per placeholder, in order")
        if found > self.config.max_images:
            raise ValueError(f"{task}: {found} image placeholders, MIGE takes at most {self.config.max_images} images")
        return surplus

    def _draw(self, shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=torch.float32)
        return noise.to(self.device)

    def posterior(self, image: Image.Image, *, fit: str = "crop") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std (float32, 1×4×h×w) of the VAE posterior of the 512 view."""
        pixels = vae_view(image, self.config.image_size, fit=fit)[None].to(self.device, VAE_DTYPE)
        posterior = self.vae.encode(pixels).latent_dist
        return posterior.mean.float(), posterior.std.float()

    def sample_posterior(self, posterior: tuple[torch.Tensor, torch.Tensor],
                         generator: torch.Generator) -> torch.Tensor:
        """mean + std·noise, the noise drawn from ``generator``; unscaled."""
        mean, std = posterior
        return mean + std * self._draw(mean.shape, generator)

    def encode_instruction(self, prompt: str, references: Sequence[Image.Image], latents: Sequence[torch.Tensor],
                           *, empty_slots: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """T5 caption tokens 1×L×D and mask 1×L of the prompt with its reference images spliced in.

        ``latents``: each reference's posterior sample (:meth:`sample_posterior`), in the same order;
        ``empty_slots`` all-zero slots (pixels and latent) follow the references."""
        size = self.config.vision.image_size
        if references or empty_slots:
            latent_shape = (empty_slots, self.vae.config.latent_channels, *([self.config.dit.latent_size] * 2))
            pixels = torch.cat([*(qformer_view(image, size)[None] for image in references),
                                torch.zeros(empty_slots, 3, size, size)])
            slots = torch.cat([*latents, torch.zeros(latent_shape, device=self.device)])
            tokens = self.module.image_tokens(pixels, slots.to(self.dtype), encoder_fp16=self._encoder_fp16)
        else:
            tokens = torch.zeros(0, self.config.qformer.query_tokens, self.config.t5_dim, dtype=self.dtype)
        ids = tokenize_segments(self.tokenizer, text.split_at_placeholders(prompt))
        with self._text_encoder_on_device() as encoder:
            embeds, mask = splice(ids, tokens, encoder.get_input_embeddings(),
                                  max_tokens=self.config.dit.caption_tokens)
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

    def sample(self, caption: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None,
               generator: torch.Generator, *, steps: int, text_scale: float,
               source_scale: float | None) -> torch.Tensor:
        """The final latent 1×4×h×w (float32) by DPM-Solver++ with two (subject) or three branches."""
        dit = self.module.dit
        channels = dit.config.in_channels // 2
        size = dit.config.latent_size
        null = dit.null_caption(1)[:, : caption.shape[1]].to(caption.dtype)
        if condition is None:  # [null, instruction], blank canvas in both
            captions, conditions = torch.cat([null, caption]), None
        else:  # [null, null, instruction] × [zeros, source, source]
            zeros = torch.zeros_like(condition)
            captions, conditions = torch.cat([null, null, caption]), torch.cat([zeros, condition, condition])
        branches = captions.shape[0]
        masks = mask.expand(branches, -1)

        def guided_noise(x: torch.Tensor, t_input: float) -> torch.Tensor:
            timestep = torch.full((branches,), t_input, dtype=torch.float32, device=self.device)
            if self.precision == "authors":
                timestep = timestep.to(torch.bfloat16).float()
            states = concat_condition(x.expand(branches, -1, -1, -1), conditions)
            eps = sampler.split_branches(dit(states, timestep, captions, masks), branches, channels=channels)
            if condition is None:
                return sampler.guide_subject(*eps, text_scale=text_scale)
            return sampler.guide_edit(*eps, text_scale=text_scale, source_scale=source_scale)

        noise = self._draw((1, channels, size, size), generator)
        return sampler.dpm_solver_pp_2m(guided_noise, noise, steps=steps)

    def decode(self, latent: torch.Tensor) -> Image.Image:
        decoded = self.vae.decode((latent / self.config.vae_scale).to(VAE_DTYPE)).sample
        return to_image(decoded[0])
