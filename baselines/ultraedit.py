"""``ultraedit``: UltraEdit (Zhao et al., NeurIPS 2024 D&B) on Stable Diffusion 3, built on diffusers' SD3 parts.

The authors ship their SD3 editor (``BleachNick/SD3_UltraEdit_w_mask``) through ``StableDiffusion3InstructPix2Pix
Pipeline``, a pipeline of their own diffusers fork (github.com/HaozheZhao/UltraEdit, ``diffusers/src/diffusers/
pipelines/stable_diffusion_3/pipeline_stable_diffusion_3_instructpix2pix.py``) that diffusers never merged. Its
components are stock diffusers / transformers classes (``SD3Transformer2DModel``, ``AutoencoderKL``, two
``CLIPTextModelWithProjection``, ``T5EncoderModel``, ``FlowMatchEulerDiscreteScheduler``): the fork leaves
``transformer_sd3.py`` untouched, and its training script only widens the transformer's input projection
(``in_channels`` 16 -> 48 with a mask: ``int(1.5 * in_channels)``, saved in the config). So the checkpoint loads
into :func:`ultraedit_pipeline_class`, a ``StableDiffusion3Pipeline`` whose call follows the fork's:

- the prompt is encoded as SD3 does (CLIP-L and CLIP-G penultimate states, T5), T5 truncated at 77 tokens (the
  fork's ``tokenizer_max_length``); guidance runs three branches: (prompt, image), (negative, image),
  (negative, no image), combined as ``uncond + s_text * (text - image) + s_image * (image - uncond)``;
- the source image and the mask image (an RGB picture, white where editing is allowed) are VAE-encoded
  (distribution mode) *without* SD3's shift and scale, zeros for the unconditional branch, and concatenated with
  the noise latents on channels (16 + 16 + 16 = the transformer's 48 input channels);
- timesteps are the scheduler's own ``set_timesteps(steps)`` schedule (shift 3 from its config), and the final
  latents are decoded after dividing by the VAE scale only (no shift), as the fork does.

Published inference settings (the repository README's SD3 example), all overridable with ``--model-arg``:
``steps=50``, ``guidance_scale=7.5``, ``image_guidance_scale=1.5``, ``negative_prompt=""``, the source resized to
``resolution=512`` square, and, for free-form editing, a blank (all-white) mask: ``mask=blank``. ``mask=benchmark``
uses the benchmark's own region mask when it has one (MagicBrush), ``mask=none`` runs a checkpoint trained without
masks (``BleachNick/SD3_UltraEdit_freeform``). ``dtype=auto`` is fp16 on CUDA, as the README loads it.

Prompt mapping: the plain instruction (``request.prompt``) and the source image.
"""

from __future__ import annotations

import functools
from typing import Any

from PIL import Image

from mige_eval.adapters.options import choice, non_negative_float
from mige_eval.baselines._diffusers import DiffusersAdapter, plain_text, require_image, text_option
from mige_eval.types import Request

MASKS = ("blank", "benchmark", "none")


@functools.cache
def ultraedit_pipeline_class() -> type:
    """diffusers' ``StableDiffusion3Pipeline`` with the UltraEdit call (see the module docstring)."""
    import torch
    from diffusers import StableDiffusion3Pipeline
    from diffusers.pipelines.stable_diffusion_3.pipeline_output import StableDiffusion3PipelineOutput
    from diffusers.utils.torch_utils import randn_tensor

    class UltraEditPipeline(StableDiffusion3Pipeline):
        """SD3 instruction editing conditioned on a source image and, for ``w_mask`` checkpoints, a mask image."""

        def _condition_latents(self, image: Any, dtype: Any, device: Any, guided: bool) -> Any:
            pixels = self.image_processor.preprocess(image).to(device=device, dtype=dtype)
            latents = self.vae.encode(pixels).latent_dist.mode()  # not shifted or scaled, as in the fork
            return torch.cat([latents, latents, torch.zeros_like(latents)]) if guided else latents

        @torch.no_grad()
        def __call__(
            self,
            prompt: str,
            image: Any,
            mask_image: Any = None,
            num_inference_steps: int = 50,
            guidance_scale: float = 7.5,
            image_guidance_scale: float = 1.5,
            negative_prompt: str = "",
            generator: Any = None,
            output_type: str = "pil",
        ) -> Any:
            device = self._execution_device
            guided = guidance_scale > 1.0 and image_guidance_scale >= 1.0
            embeds, negative, pooled, negative_pooled = self.encode_prompt(
                prompt=prompt,
                prompt_2=None,
                prompt_3=None,
                device=device,
                do_classifier_free_guidance=guided,
                negative_prompt=negative_prompt,
                max_sequence_length=self.tokenizer_max_length,
            )
            if guided:
                embeds = torch.cat([embeds, negative, negative])
                pooled = torch.cat([pooled, negative_pooled, negative_pooled])
            conditions = [self._condition_latents(image, embeds.dtype, device, guided)]
            if mask_image is not None:
                conditions.append(self._condition_latents(mask_image, embeds.dtype, device, guided))
            channels = self.vae.config.latent_channels
            if channels * (1 + len(conditions)) != self.transformer.config.in_channels:
                raise ValueError(
                    f"this UltraEdit transformer takes {self.transformer.config.in_channels} input channels: "
                    f"{channels} noise + {channels} image"
                    + (f" + {channels} mask" if mask_image is None else "")
                    + " latent channels; "
                    + (
                        "pass a mask image (mask=blank)"
                        if mask_image is None
                        else "this checkpoint was trained without masks (mask=none)"
                    )
                )
            latents = randn_tensor(
                (1, channels, *conditions[0].shape[-2:]), generator=generator, device=device, dtype=embeds.dtype
            )
            self.scheduler.set_timesteps(num_inference_steps, device=device)
            for t in self.scheduler.timesteps:
                model_input = torch.cat([latents] * 3) if guided else latents
                model_input = torch.cat([model_input, *conditions], dim=1)
                noise = self.transformer(
                    hidden_states=model_input,
                    timestep=t.expand(model_input.shape[0]),
                    encoder_hidden_states=embeds,
                    pooled_projections=pooled,
                    return_dict=False,
                )[0]
                if guided:
                    text, image_only, uncond = noise.chunk(3)
                    noise = uncond + guidance_scale * (text - image_only) + image_guidance_scale * (image_only - uncond)
                latents = self.scheduler.step(noise, t, latents, return_dict=False)[0]
            decoded = self.vae.decode(latents / self.vae.config.scaling_factor, return_dict=False)[0]
            images = self.image_processor.postprocess(decoded, output_type=output_type)
            self.maybe_free_model_hooks()
            return StableDiffusion3PipelineOutput(images=images)

    return UltraEditPipeline


class UltraEdit(DiffusersAdapter):
    name = "ultraedit"
    tasks = frozenset({"edit"})
    description = "UltraEdit (Zhao et al., NeurIPS 2024): SD3 instruction editing with optional region masks"
    license = (
        "other (model card); fine-tuned from Stable Diffusion 3 Medium, whose Stability AI licence is non-commercial"
    )
    default_model_id = "BleachNick/SD3_UltraEdit_w_mask"
    size_multiple = 16  # VAE 8 x transformer patch 2
    quantizable = ("transformer", "text_encoder_3")

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 50,
        guidance_scale: float = 7.5,
        image_guidance_scale: float = 1.5,
        negative_prompt: str = "",
        resolution: int = 512,
        mask: str = "blank",
        cpu_offload: bool = False,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        self.image_guidance_scale = non_negative_float("image_guidance_scale", image_guidance_scale)
        self.negative_prompt = text_option("negative_prompt", negative_prompt)
        self.mask = choice("mask", mask, MASKS)
        super().__init__(
            model_id=model_id,
            revision=revision,
            device=device,
            dtype=dtype,
            steps=steps,
            resolution=resolution,
            cpu_offload=cpu_offload,
            attention_slicing=False,
            group_offload=group_offload,
            quantize=quantize,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "guidance_scale": self.guidance_scale,
            "image_guidance_scale": self.image_guidance_scale,
            "negative_prompt": self.negative_prompt,
            "mask": self.mask,
        }

    def _pipeline_type(self) -> type:
        return ultraedit_pipeline_class()

    def _mask_image(self, request: Request, size: tuple[int, int]) -> Image.Image | None:
        if self.mask == "none":
            return None
        if self.mask == "benchmark" and request.mask is not None:
            return request.mask.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        return Image.new("RGB", size, (255, 255, 255))

    def _inputs(self, request: Request) -> dict[str, Any]:
        source = require_image(request, "source", self.name, "instruction editing changes a given image")
        size = self.generation_size(request)
        return {
            "prompt": plain_text(request),
            "image": source.convert("RGB").resize(size, Image.Resampling.BICUBIC),
            "mask_image": self._mask_image(request, size),
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "image_guidance_scale": self.image_guidance_scale,
            "negative_prompt": self.negative_prompt,
        }
