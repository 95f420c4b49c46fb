"""MIGE's diffusion transformer: PixArt-α with the conditional latent concatenated along channels.

The released ``model.pth`` keeps the DiT at the top level of the MIGE module (``x_embedder.``,
``t_embedder.``, ``t_block.``, ``y_embedder.``, ``blocks.N.``, ``final_layer.``, ``pos_embed``);
:class:`PixArtDiT` uses exactly those names, so loading is an identity mapping of keys.

Inputs as MIGE builds them (docs/mige_model.md):

- ``x`` = [noisy latent (4 ch), conditional latent (4 ch)] along channels, see :func:`concat_condition`
  (zeros = blank canvas for subject generation and for the "no source" guidance branch);
- ``caption`` = T5 caption tokens (caption_dim), or the learned null caption :meth:`PixArtDiT.null_caption`
  for unconditional branches: the null caption replaces the caption *before* the caption MLP
  ``y_embedder.y_proj``, exactly like a T5 caption; its mask is the conditional branch's mask;
- output: ``out_channels`` = 8 (noise, then variance); samplers use the first 4.
"""

from __future__ import annotations

import torch
from torch import nn

from mige_model.config import DiTConfig
from mige_model.dit_layers import (
    CaptionEmbedder,
    FinalLayer,
    PatchEmbedder,
    PixArtBlock,
    TimestepEmbedder,
    sincos_position_embedding,
)


def concat_condition(noisy: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
    """[noisy, condition] along channels; ``None`` stands for zeros (the blank canvas).

    The condition is cast to the noisy latent's dtype and device.
    """
    if noisy.dim() != 4:
        raise ValueError(f"noisy latent must be B×C×H×W, got shape {tuple(noisy.shape)}")
    if condition is None:
        return torch.cat([noisy, torch.zeros_like(noisy)], dim=1)
    if condition.dim() != 4:
        raise ValueError(f"conditional latent must be B×C×H×W, got shape {tuple(condition.shape)}")
    if condition.shape[-2:] != noisy.shape[-2:]:
        raise ValueError(
            f"conditional latent is {tuple(condition.shape[-2:])} (H×W) but the noisy latent is "
            f"{tuple(noisy.shape[-2:])}: encode the source image at the generation resolution"
        )
    if condition.shape[:2] != noisy.shape[:2]:
        raise ValueError(
            f"conditional latent has batch×channels {tuple(condition.shape[:2])} but the noisy latent has "
            f"{tuple(noisy.shape[:2])}: give one conditional latent per noisy latent, with as many channels"
        )
    return torch.cat([noisy, condition.to(dtype=noisy.dtype, device=noisy.device)], dim=1)


class PixArtDiT(nn.Module):
    """PixArt-α XL/2 as MIGE uses it; sizes from :class:`DiTConfig` (tiny configs for tests).

    x → x_embedder (+ pos_embed) → depth × PixArtBlock(caption, t0) → final_layer(t) → unpatchify, with
    t = t_embedder(timestep) and t0 = t_block(t) = Linear(SiLU(t)) (adaLN-single, shared by all blocks).
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        if config.hidden % config.heads:
            raise ValueError(f"DiT hidden size {config.hidden} is not divisible by its {config.heads} heads")
        if config.latent_size % config.patch_size:
            raise ValueError(f"DiT latent size {config.latent_size} is not divisible by patch size {config.patch_size}")
        self.config = config
        grid = config.latent_size // config.patch_size
        self.x_embedder = PatchEmbedder(config.in_channels, config.hidden, config.patch_size)
        self.t_embedder = TimestepEmbedder(config.hidden)
        self.register_buffer(
            "pos_embed",
            sincos_position_embedding(
                config.hidden, grid, base_size=config.base_size, pe_interpolation=config.pe_interpolation
            )[None],
        )
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(config.hidden, 6 * config.hidden))
        self.y_embedder = CaptionEmbedder(config.caption_dim, config.hidden, config.caption_tokens)
        mlp_width = int(config.hidden * config.mlp_ratio)
        self.blocks = nn.ModuleList(
            PixArtBlock(config.hidden, config.heads, mlp_width, config.eps) for _ in range(config.depth)
        )
        self.final_layer = FinalLayer(config.hidden, config.patch_size, config.out_channels, config.eps)

    @property
    def dtype(self) -> torch.dtype:
        return self.x_embedder.proj.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.x_embedder.proj.weight.device

    def null_caption(self, batch: int) -> torch.Tensor:
        """The learned null caption for ``batch`` samples, B × caption_tokens × caption_dim (a view).

        Pass it to :meth:`forward` as ``caption``: like MIGE, it goes through ``y_embedder.y_proj``.
        """
        return self.y_embedder.y_embedding[None].expand(batch, -1, -1)

    def embed_patches(self, latent: torch.Tensor) -> torch.Tensor:
        """Patch tokens B × T × hidden *without* the position embedding (the fusion module's VAE tokens)."""
        self._check_latent(latent, "latent")
        return self.x_embedder(latent.to(device=self.device, dtype=self.dtype))

    def forward(
        self, x: torch.Tensor, timestep: torch.Tensor, caption: torch.Tensor, caption_mask: torch.Tensor
    ) -> torch.Tensor:
        """Predicted noise and variance, B × out_channels × H × W, in the module's dtype.

        ``timestep``: (B,), fractional values allowed (DPM-Solver feeds (t − 1/N)·1000); its
        frequencies are computed in float32 from the values as given (the authors' bf16 run rounds
        the timestep to bf16 first: pass it rounded to reproduce that). ``caption``: B × L × caption_dim.
        ``caption_mask``: B × L, nonzero = token is attended; every sample needs at least one.
        """
        self._check_latent(x, "x")
        batch = x.shape[0]
        keep = self._check_caption(caption, caption_mask, batch)
        if timestep.shape != (batch,):
            raise ValueError(f"timestep must have shape ({batch},) (one per sample), got {tuple(timestep.shape)}")
        tokens = self.x_embedder(x.to(device=self.device, dtype=self.dtype)) + self.pos_embed
        t = self.t_embedder(timestep.to(self.device))
        t0 = self.t_block(t)
        y = self.y_embedder(caption.to(device=self.device, dtype=self.dtype))
        for block in self.blocks:
            tokens = block(tokens, y, keep, t0)
        return self._unpatchify(self.final_layer(tokens, t))

    def _unpatchify(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h·w, p·p·c) → (B, c, h·p, w·p): token (i, j), value (p', q', c) → pixel (c, i·p+p', j·p+q').

        PixArt's order: reshape to (n, h, w, p, q, c), einsum 'nhwpqc->nchpwq'.
        """
        patch, channels = self.config.patch_size, self.config.out_channels
        grid = self.config.latent_size // patch
        patches = tokens.reshape(tokens.shape[0], grid, grid, patch, patch, channels)
        return torch.einsum("nhwpqc->nchpwq", patches).reshape(tokens.shape[0], channels, grid * patch, grid * patch)

    def _check_latent(self, latent: torch.Tensor, name: str) -> None:
        size, channels = self.config.latent_size, self.config.in_channels
        if latent.dim() != 4:
            raise ValueError(f"{name} must be B×{channels}×{size}×{size}, got shape {tuple(latent.shape)}")
        if latent.shape[1] != channels:
            raise ValueError(
                f"{name} has {latent.shape[1]} channels but the DiT takes {channels}: concatenate the noisy and "
                "the conditional latent with concat_condition (reference latents: append zero channels)"
            )
        if tuple(latent.shape[-2:]) != (size, size):
            raise ValueError(
                f"{name} is {tuple(latent.shape[-2:])} (H×W) but the DiT's fixed position embedding is for "
                f"{size}×{size} latents"
            )

    def _check_caption(self, caption: torch.Tensor, caption_mask: torch.Tensor, batch: int) -> torch.Tensor:
        """The boolean key mask (True = attend), after checking shapes and that no sample attends to nothing."""
        expected = f"{batch}×L×{self.config.caption_dim}"
        if caption.dim() != 3 or caption.shape[0] != batch or caption.shape[2] != self.config.caption_dim:
            raise ValueError(
                f"caption must be {expected} (T5 tokens of width caption_dim {self.config.caption_dim}, one "
                f"row per sample), got shape {tuple(caption.shape)}"
            )
        if caption_mask.shape != caption.shape[:2]:
            raise ValueError(
                f"caption_mask must have shape {tuple(caption.shape[:2])} (one flag per caption token), "
                f"got {tuple(caption_mask.shape)}"
            )
        keep = caption_mask.to(self.device) != 0
        empty = (~keep.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(
                f"caption_mask is all zero for sample(s) {empty}: cross-attention would attend to nothing; "
                "every caption needs at least one token (T5 captions keep their EOS)"
            )
        return keep
