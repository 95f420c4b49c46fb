"""MIGE's components at the released sizes without the released weights, for memory and speed measurements.

Time and memory do not depend on weight values, so ``perf/mige_gpu.py`` measures the released
architecture built from these sizes (T5 v1.1 XXL's encoder as in ``t5-v1_1-xxl/config.json``, the
``sd-vae-ft-ema`` AutoencoderKL, :class:`~mige_model.config.MIGEConfig`'s defaults) with random weights,
and the memory tests take their parameter counts from them. Build under ``torch.device("meta")`` and
materialise on the GPU: a 4.8 B-parameter T5 built in float32 on the CPU first would take minutes.
"""

from __future__ import annotations

from typing import Any

from mige_model.checkpoint import Components
from mige_model.config import MIGEConfig

#: ``t5-v1_1-xxl/config.json`` (google/t5-v1_1-xxl), the fields that decide the encoder's shapes.
T5_V1_1_XXL: dict[str, Any] = {
    "vocab_size": 32128,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
#: ``sd-vae-ft-ema/config.json`` (stabilityai/sd-vae-ft-ema).
SD_VAE_FT_EMA: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}


def build_released(
    *,
    config: MIGEConfig | None = None,
    t5: dict[str, Any] | None = None,
    vae: dict[str, Any] | None = None,
    tokenizer: Any = None,
) -> Components:
    """The components with freshly initialised weights, on the current default device and dtype.

    ``config``, ``t5`` and ``vae`` default to the released sizes; smaller ones give a toy model with the
    same structure (``perf/mige_gpu.py --tiny``). ``tokenizer``: a T5 tokenizer whose ids fit ``t5``'s
    vocabulary (``None`` where nothing is tokenised, e.g. to count parameters).
    """
    from diffusers import AutoencoderKL
    from transformers import T5Config, T5EncoderModel

    from mige_model.model import MIGEModule

    config = config or MIGEConfig()
    t5_config = T5Config(**(T5_V1_1_XXL if t5 is None else t5))
    if t5_config.d_model != config.t5_dim:
        raise ValueError(
            f"the T5 sizes have d_model {t5_config.d_model} but the MIGE module's t5_dim is "
            f"{config.t5_dim}; give sizes that agree"
        )
    return Components(
        config=config,
        module=MIGEModule(config),
        text_encoder=T5EncoderModel(t5_config).eval(),
        tokenizer=tokenizer,
        vae=AutoencoderKL(**(SD_VAE_FT_EMA if vae is None else vae)).eval(),
        source={"parts": {"all": ["random weights at the given sizes"]}},
    )
