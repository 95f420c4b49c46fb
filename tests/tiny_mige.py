"""A tiny MIGE in the authors' RELEASED layout, with random weights, for loader and pipeline tests.

``save_tiny_released`` writes what the hub repository ``EurekaTian/MIGE`` holds, at toy sizes:
``model.pth`` (``{"state_dict": {released names → tensors}}``, T5 under ``t5_model.``), ``t5-v1_1-xxl/``
(T5 v1.1 config and tokenizer, no weights), ``sd-vae-ft-ema/`` (a diffusers AutoencoderKL with the
released 8× down-sampling), ``mige_config.json`` (the tiny sizes) and the other component folders as
placeholders. Every tensor is random, including those the authors initialise to zero (the fusion
module's output projection, the query tokens) and LayerNorm weights, so a tensor loaded into the wrong
place is noticed.
"""

from __future__ import annotations

from pathlib import Path

import torch

import tiny_tokenizers
from mige_model.config import DiTConfig, FusionConfig, MIGEConfig, QFormerConfig, VisionConfig
from mige_model.model import T5_PREFIX, MIGEModule, released_name

#: LAVIS's BERT embeddings keep a ``position_ids`` buffer (BERT's 512 positions) that the release carries.
QFORMER_POSITION_IDS = "Qformer.bert.embeddings.position_ids"
PLACEHOLDERS = ("PixArt-XL-2-512x512", "blip2_pretrained_flant5xxl", "eva_vit_g", "bert-base-uncased")


def tiny_config() -> MIGEConfig:
    """Toy sizes with every structural feature of the release (cross-attention every 2nd layer, 8→8 DiT)."""
    return MIGEConfig(
        vision=VisionConfig(image_size=28, patch_size=14, width=32, depth=2, heads=2, mlp_ratio=2.0),
        qformer=QFormerConfig(hidden=32, layers=2, heads=2, intermediate=64, cross_attention_freq=2, query_tokens=4),
        fusion=FusionConfig(heads=2),
        dit=DiTConfig(
            latent_size=8,
            patch_size=2,
            in_channels=8,
            out_channels=8,
            hidden=32,
            depth=2,
            heads=2,
            caption_dim=32,
            caption_tokens=48,
            base_size=4,
        ),
        t5_dim=32,
        max_images=4,
        image_size=64,
    )


def tiny_t5_config(vocab_size: int):
    from transformers import T5Config

    return T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        relative_attention_num_buckets=8,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )


def tiny_vae():
    """AutoencoderKL with 4 down blocks (factor 8: 64 px → 8×8 latent) and 4 latent channels."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
        scaling_factor=0.18215,
    )


def _randomise(state: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every floating tensor replaced by a distinct random one; LayerNorm-like ones stay near 1."""
    out = {}
    for name, tensor in state.items():
        noise = 0.2 * torch.randn(tensor.shape, generator=generator)
        near_one = tensor.dim() == 1 and bool((tensor == 1).all())
        out[name] = noise + 1 if near_one else noise
    return out


def save_tiny_released(root: Path, *, seed: int = 0, split_components: bool = False) -> Path:
    """Write the tiny release into ``root`` (created); returns ``root``.

    ``split_components``: the EVA weights go to ``eva_vit_g/eva_vit_g.pth`` (keys without prefix) and the
    Q-Former, ``query_tokens`` and ``ln_vision`` to ``blip2_pretrained_flant5xxl/…pth`` (``{"model": …}``),
    and are absent from ``model.pth``, as if the authors had saved only what they trained.
    """
    from transformers import T5EncoderModel

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    config = tiny_config()
    generator = torch.Generator().manual_seed(seed)
    tokenizer = tiny_tokenizers.t5_tokenizer()
    t5_config = tiny_t5_config(len(tokenizer))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module_state = MIGEModule(config).state_dict()
        t5_state = T5EncoderModel(t5_config).state_dict()
        vae = tiny_vae()
    state = {released_name(k): v for k, v in _randomise(module_state, generator).items()}
    state["pos_embed"] = module_state["dit.pos_embed"]  # the fixed sin-cos table, as the authors store it
    t5_random = _randomise(t5_state, generator)
    t5_random["encoder.embed_tokens.weight"] = t5_random["shared.weight"]  # tied in T5
    state |= {T5_PREFIX + k: v for k, v in t5_random.items()}
    state[QFORMER_POSITION_IDS] = torch.arange(512).expand(1, -1).clone()

    for name in PLACEHOLDERS:
        (root / name).mkdir(exist_ok=True)
        (root / name / "README.md").write_text(f"placeholder for the authors' {name} (not needed by the tiny model)\n")
    if split_components:
        eva = {k.removeprefix("visual_encoder."): state.pop(k) for k in list(state) if k.startswith("visual_encoder.")}
        torch.save(eva, root / "eva_vit_g" / "eva_vit_g.pth")
        blip2 = {k: state.pop(k) for k in list(state) if k.startswith(("Qformer.", "query_tokens", "ln_vision."))}
        torch.save({"model": blip2}, root / "blip2_pretrained_flant5xxl" / "blip2_pretrained_flant5xxl.pth")
    torch.save({"state_dict": state}, root / "model.pth")

    t5_folder = root / "t5-v1_1-xxl"
    t5_config.save_pretrained(t5_folder)
    tiny_tokenizers.save(tokenizer, t5_folder)
    vae.save_pretrained(root / "sd-vae-ft-ema")
    config.save(root)
    return root
