"""Building blocks of MIGE's PixArt-α diffusion transformer, named as in the released checkpoint.

Every attribute name below is the one the authors' module uses (PixArt-α's ``PixArt_blocks.py`` as
copied into MIGE's ``MIGE_blocks.py``), so ``state_dict()`` keys match ``model.pth`` one for one. The
attention itself uses ``torch.nn.functional.scaled_dot_product_attention`` instead of xformers; the
scale is the default 1/√head_dim in both.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TIMESTEP_FREQUENCIES = 256
MAX_PERIOD = 10000.0


def sincos_position_embedding(dim: int, grid: int, *, base_size: int, pe_interpolation: float) -> torch.Tensor:
    """The fixed 2-D sin-cos position embedding of PixArt-α, shape (grid·grid, dim), float32.

    Token m = row·grid + col sits at (row·s, col·s) with s = base_size / grid / pe_interpolation
    (evaluated as index / (grid / base_size) / pe_interpolation, PixArt's order of operations).
    The first dim/2 channels encode the column coordinate, the last dim/2 the row coordinate (PixArt
    builds its grid with ``meshgrid(w, h)``, so its "h" half is in fact the column). Each half is
    1-D: ω_k = 10000^(−k/(dim/4)), k < dim/4, emb(p) = [sin(p·ω), cos(p·ω)]. Computed in float64 (as
    MIGE does) and stored as float32.
    """
    if dim % 4:
        raise ValueError(f"the DiT hidden size must be divisible by 4 for the 2-D sin-cos embedding, got {dim}")
    coordinate = np.arange(grid, dtype=np.float64) / (grid / base_size) / pe_interpolation
    rows, cols = np.meshgrid(coordinate, coordinate, indexing="ij")
    omega = 1.0 / MAX_PERIOD ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))

    def one_axis(positions: np.ndarray) -> np.ndarray:
        angles = np.outer(positions.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    table = np.concatenate([one_axis(cols), one_axis(rows)], axis=1)
    return torch.from_numpy(table).float()


def timestep_frequencies(timestep: torch.Tensor, dim: int = TIMESTEP_FREQUENCIES) -> torch.Tensor:
    """Sinusoidal features of a (possibly fractional) timestep, (B, dim), always float32.

    f_k = exp(−ln(10000)·k/half), k < half = dim/2; features = [cos(t·f), sin(t·f)] (cosine first, as
    in GLIDE/DiT/PixArt). A bf16 timestep is used as given: the authors feed 999 as bf16, i.e. 1000.
    """
    half = dim // 2
    index = torch.arange(half, dtype=torch.float32, device=timestep.device)
    frequencies = torch.exp(-math.log(MAX_PERIOD) * index / half)
    angles = timestep.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class PatchEmbedder(nn.Module):
    """Non-overlapping p×p patches → tokens: Conv2d(stride p), then (B, C, h, w) → (B, h·w, C), row-major."""

    def __init__(self, in_channels: int, hidden: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden, kernel_size=patch_size, stride=patch_size)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.proj(latent).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    """Timestep → vector: Linear(256→hidden), SiLU, Linear(hidden→hidden) on the float32 frequencies cast
    to the weight dtype."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(TIMESTEP_FREQUENCIES, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:
        features = timestep_frequencies(timestep)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class FeedForward(nn.Module):
    """fc2(GELU_tanh(fc1(x))), timm's ``Mlp`` layout; used for the block MLP and the caption projection."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class CaptionEmbedder(nn.Module):
    """Caption tokens (caption_dim) → hidden via ``y_proj``; holds the learned null caption.

    ``y_embedding`` (caption_tokens × caption_dim) is a persistent buffer, as in the checkpoint. For
    classifier-free guidance it *replaces the caption before* ``y_proj`` (MIGE's forward builds
    ``null_y`` from it and sends it through the same projection as a T5 caption).
    """

    def __init__(self, caption_dim: int, hidden: int, caption_tokens: int) -> None:
        super().__init__()
        self.y_proj = FeedForward(caption_dim, hidden, hidden)
        self.register_buffer("y_embedding", torch.randn(caption_tokens, caption_dim) / caption_dim**0.5)

    def forward(self, caption: torch.Tensor) -> torch.Tensor:
        return self.y_proj(caption)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the image tokens: fused ``qkv`` (q, k, v order, head-major) and ``proj``."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class CrossAttention(nn.Module):
    """Image tokens attend to caption tokens: ``q_linear``, ``kv_linear`` (k then v), ``proj``.

    PixArt packs the kept caption tokens of all samples and uses a block-diagonal mask; a key-padding
    mask (True = attend) over the unpacked tokens gives the same softmax.
    """

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_linear = nn.Linear(hidden, hidden)
        self.kv_linear = nn.Linear(hidden, 2 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, caption: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        head_dim = width // self.heads
        q = self.q_linear(x).view(batch, tokens, self.heads, head_dim).transpose(1, 2)
        k, v = self.kv_linear(caption).view(batch, caption.shape[1], 2, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class PixArtBlock(nn.Module):
    """One adaLN-single block.

    (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) = table + t0.reshape(B, 6, hidden);
    x += gate_msa·attn(norm1(x)·(1+scale_msa)+shift_msa); x += cross_attn(x, y);
    x += gate_mlp·mlp(norm2(x)·(1+scale_mlp)+shift_mlp). Norms: LayerNorm without affine, eps from config.
    """

    def __init__(self, hidden: int, heads: int, mlp_width: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=eps)
        self.attn = SelfAttention(hidden, heads)
        self.cross_attn = CrossAttention(hidden, heads)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=eps)
        self.mlp = FeedForward(hidden, mlp_width, hidden)
        self.scale_shift_table = nn.Parameter(torch.randn(6, hidden) / hidden**0.5)

    def forward(self, x: torch.Tensor, caption: torch.Tensor, keep: torch.Tensor, t0: torch.Tensor) -> torch.Tensor:
        modulation = self.scale_shift_table[None] + t0.reshape(x.shape[0], 6, -1)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = modulation.chunk(6, dim=1)
        x = x + gate_msa * self.attn(self.norm1(x) * (1 + scale_msa) + shift_msa)
        x = x + self.cross_attn(x, caption, keep)
        return x + gate_mlp * self.mlp(self.norm2(x) * (1 + scale_mlp) + shift_mlp)


class FinalLayer(nn.Module):
    """(shift, scale) = table + t (the timestep embedding *before* ``t_block``);
    out = linear(norm(x)·(1+scale)+shift), p·p·out_channels values per token in (p, q, c) order."""

    def __init__(self, hidden: int, patch_size: int, out_channels: int, eps: float) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=eps)
        self.linear = nn.Linear(hidden, patch_size * patch_size * out_channels)
        self.scale_shift_table = nn.Parameter(torch.randn(2, hidden) / hidden**0.5)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        shift, scale = (self.scale_shift_table[None] + t[:, None]).chunk(2, dim=1)
        return self.linear(self.norm_final(x) * (1 + scale) + shift)
