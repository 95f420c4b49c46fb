"""``blip-diffusion``: BLIP-Diffusion (Li, Li, Hoi, NeurIPS 2023), zero-shot subject-driven generation, via diffusers.

diffusers' BLIP-Diffusion modules predate transformers 5, which breaks or silently changes them;
:func:`transformers5_compat` restores their transformers 4 behaviour after loading.

Published inference settings (salesforce/LAVIS ``projects/blip-diffusion/notebooks/zero_shot_generation.py``,
the authors' zero-shot example), all overridable with ``--model-arg``:

- weights ``Salesforce/blipdiffusion`` (the authors' diffusers checkpoint); no commit is published, so
  ``revision`` defaults to ``main``. Loading it also needs the ``bert-base-uncased`` tokenizer, which
  diffusers' Q-Former fetches by name (``hf download bert-base-uncased`` when offline; missing, transformers 5
  silently builds one with no vocabulary, which the adapter refuses);
- ``steps=50``, ``guidance_scale=7.5``, ``resolution=512`` (512 x 512), and the authors' negative prompt
  :data:`NEGATIVE_PROMPT`; ``prompt_strength=1.0`` and ``prompt_reps=20`` (the prompt is repeated 20 times to
  strengthen it, LAVIS' and diffusers' default).

Prompt mapping: the pipeline writes its text as ``"a {target_subject_category} {prompt}"`` and puts the
subject embedding right after the "a". The request's subject photo (its single instruction image) is the
``reference_image``, the class noun (``meta["class_noun"]``, else ``request.object``) is the
``source_subject_category``, and the instruction is split at its placeholder: the words before it (less a
leading article) go in front of the class noun as the target category, the words after it are the prompt.
DreamBench's "a <imagehere> in the jungle" with "dog" becomes target "dog", prompt "in the jungle"; "a red
<imagehere>" becomes target "red dog", prompt "" — the pipeline then writes the DreamBench caption exactly
("a dog in the jungle", "a red dog") instead of repeating the subject.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from mige_eval.adapters.options import non_negative_float, positive_int
from mige_eval.baselines._diffusers import DiffusersAdapter, split_placeholders
from mige_eval.errors import MissingWeightsError
from mige_eval.hub import weights_hint
from mige_eval.types import PLACEHOLDER, Request

#: The negative prompt of the authors' zero-shot example.
NEGATIVE_PROMPT = (
    "over-exposure, under-exposure, saturated, duplicate, out of frame, lowres, cropped, worst quality, low quality, "
    "jpeg artifacts, morbid, mutilated, out of frame, ugly, bad anatomy, bad proportions, deformed, blurry, duplicate"
)
_ARTICLES = ("a", "an", "the")


def blip_prompt(instruction: str, class_noun: str) -> tuple[str, str]:
    """(prompt, target subject category) for an instruction with one placeholder (see the module docstring)."""
    before, after = split_placeholders(instruction)
    words = before.split()
    if words and words[0].lower() in _ARTICLES:
        words = words[1:]
    return " ".join(after.split()), " ".join([*words, class_noun])


def class_noun(request: Request) -> str:
    """The subject's class noun: DreamBench's ``meta["class_noun"]``, else ``request.object``."""
    noun = request.meta.get("class_noun") or request.object
    if not isinstance(noun, str) or not noun.strip():
        raise ValueError(
            f"blip-diffusion: sample {request.id} names no subject class (meta['class_noun'] or "
            "object), which BLIP-Diffusion's Q-Former needs"
        )
    return " ".join(noun.split())


class BlipDiffusion(DiffusersAdapter):
    name = "blip-diffusion"
    tasks = frozenset({"subject"})
    description = "BLIP-Diffusion (Li et al., NeurIPS 2023), zero-shot subject-driven, Salesforce/blipdiffusion"
    license = "Apache-2.0 (model card)"
    pipeline_class = "BlipDiffusionPipeline"
    default_model_id = "Salesforce/blipdiffusion"

    def __init__(
        self,
        *,
        model_id: str | None = None,
        revision: str = "main",
        device: str = "auto",
        dtype: str = "auto",
        steps: int = 50,
        guidance_scale: float = 7.5,
        resolution: int = 512,
        negative_prompt: str = NEGATIVE_PROMPT,
        prompt_strength: float = 1.0,
        prompt_reps: int = 20,
        cpu_offload: bool = False,
        attention_slicing: bool = False,
    ) -> None:
        self.guidance_scale = non_negative_float("guidance_scale", guidance_scale)
        if not isinstance(negative_prompt, str):
            raise ValueError(f"negative_prompt must be text, got {negative_prompt!r}")
        self.negative_prompt = negative_prompt
        self.prompt_strength = non_negative_float("prompt_strength", prompt_strength)
        self.prompt_reps = positive_int("prompt_reps", prompt_reps)
        if int(self.prompt_strength * self.prompt_reps) < 1:
            raise ValueError(
                f"prompt_strength x prompt_reps must be at least 1 (the prompt is repeated that many "
                f"times), got {self.prompt_strength} x {self.prompt_reps}"
            )
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
            "negative_prompt": self.negative_prompt,
            "prompt_strength": self.prompt_strength,
            "prompt_reps": self.prompt_reps,
        }

    def _prepare(self, pipe: Any) -> None:
        tokenizer = pipe.qformer.tokenizer
        if set(tokenizer.get_vocab()) <= set(tokenizer.all_special_tokens):
            # transformers 5 builds an empty-vocabulary tokenizer, silently, when the files are missing offline
            raise MissingWeightsError(
                weights_hint(tokenizer.name_or_path, what="the tokenizer that BLIP-Diffusion's Q-Former loads by name,")
                + " (the tokenizer that loaded has no vocabulary, so every class noun would be unknown)"
            )
        transformers5_compat(pipe)

    def _inputs(self, request: Request) -> dict[str, Any]:
        if len(request.instruction_images) != 1:
            raise ValueError(
                f"{self.name}: sample {request.id} has {len(request.instruction_images)} instruction "
                f"images; BLIP-Diffusion takes one subject photo, marked by one {PLACEHOLDER}"
            )
        noun = class_noun(request)
        prompt, target = blip_prompt(request.instruction, noun)
        width, height = self.generation_size(request)
        return {
            "prompt": [prompt],
            "reference_image": request.instruction_images[0].convert("RGB"),
            "source_subject_category": [noun],
            "target_subject_category": [target],
            "guidance_scale": self.guidance_scale,
            "height": height,
            "width": width,
            "num_inference_steps": self.steps,
            "neg_prompt": self.negative_prompt,
            "prompt_strength": self.prompt_strength,
            "prompt_reps": self.prompt_reps,
        }


def transformers5_compat(pipe: Any) -> None:
    """Make diffusers' BLIP-Diffusion modules compute under transformers 5 what they compute under transformers 4.

    diffusers' (deprecated) Q-Former and context text encoder are written against transformers 4 and break
    or silently change under transformers 5, with the same weights:

    - the Q-Former's ``forward`` calls ``self.invert_attention_mask`` and ``self.get_head_mask``, which
      transformers 5 dropped from ``PreTrainedModel``; its layers call transformers' ``Blip2QFormerAttention``
      with a head mask as third positional argument and expect a tuple back, while transformers 5 takes no
      head mask and returns a tensor;
    - the text encoder hands its causal mask to transformers' ``CLIPEncoder`` as ``causal_attention_mask``,
      which transformers 5 no longer takes and ignores: the text would be encoded without the causal mask the
      model was trained with.

    This switches those modules to subclasses that restore the transformers 4 calling conventions (the
    Q-Former on eager attention, the arithmetic of its transformers 4 block) and leaves modules that do not
    need it alone. Checked on a tiny random pipeline against transformers 4.46 with diffusers 0.35, where
    BLIP-Diffusion runs unmodified: the same Q-Former and text-encoder outputs and the same images.
    """
    qformer, encoder = pipe.qformer, pipe.text_encoder.text_model.encoder
    if not hasattr(qformer, "invert_attention_mask"):
        qformer.__class__ = _legacy_qformer(type(qformer))
        if qformer.config.qformer_config._attn_implementation is None:  # loading sets the vision config's only
            qformer.config.qformer_config._attn_implementation = "eager"
        for layer in qformer.encoder.layer:
            for block in (layer.attention, getattr(layer, "crossattention", None)):
                if block is not None:
                    block.__class__ = _legacy_attention(type(block))
    if "causal_attention_mask" not in inspect.signature(type(encoder).forward).parameters:
        encoder.__class__ = _causal_clip_encoder(type(encoder))


@functools.cache
def _legacy_qformer(qformer_class: type) -> type:
    import torch

    class LegacyQFormer(qformer_class):
        def invert_attention_mask(self, mask: Any) -> Any:
            """A 0/1 padding mask (2-D or 3-D) as an additive mask: 0 where kept, the dtype's minimum where masked."""
            extended = (mask[:, None, :, :] if mask.dim() == 3 else mask[:, None, None, :]).to(dtype=self.dtype)
            return (1.0 - extended) * torch.finfo(self.dtype).min

        def get_head_mask(self, head_mask: Any, num_hidden_layers: int) -> list[None]:
            if head_mask is not None:
                raise ValueError("the BLIP-Diffusion Q-Former takes no head mask")
            return [None] * num_hidden_layers

    return LegacyQFormer


@functools.cache
def _legacy_attention(attention_class: type) -> type:
    class LegacyCallAttention(attention_class):
        def forward(
            self,
            hidden_states: Any,
            attention_mask: Any = None,
            head_mask: Any = None,
            encoder_hidden_states: Any = None,
            encoder_attention_mask: Any = None,
            past_key_value: Any = None,
            output_attentions: bool = False,
        ) -> tuple[Any, None]:
            """The transformers 4 call: (output, present key/value); no head mask, cache or attention maps."""
            if head_mask is not None or past_key_value is not None or output_attentions:
                raise ValueError("the BLIP-Diffusion Q-Former takes no head mask, cache or attention output")
            output = super().forward(
                hidden_states,
                attention_mask=attention_mask,
                encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask,
            )
            return output, None

    return LegacyCallAttention


@functools.cache
def _causal_clip_encoder(encoder_class: type) -> type:
    class CausalMaskCLIPEncoder(encoder_class):
        def forward(
            self,
            inputs_embeds: Any,
            attention_mask: Any = None,
            causal_attention_mask: Any = None,
            output_attentions: bool | None = None,
            output_hidden_states: bool | None = None,
            return_dict: bool | None = None,
        ) -> Any:
            """The transformers 4 call: both additive masks apply, summed as transformers 4 attention summed them."""
            if output_attentions or output_hidden_states:
                raise ValueError("the BLIP-Diffusion text encoder returns no attention maps or hidden states")
            if causal_attention_mask is not None:
                attention_mask = (
                    causal_attention_mask if attention_mask is None else (attention_mask + causal_attention_mask)
                )
            return super().forward(inputs_embeds, attention_mask=attention_mask)

    return CausalMaskCLIPEncoder
