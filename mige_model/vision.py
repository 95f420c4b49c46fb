"""EVA ViT-g/14 as BLIP-2 builds it: MIGE's frozen semantic image encoder (checkpoint prefix ``visual_encoder.``).

Attribute names follow LAVIS ``lavis/models/eva_vit.py`` (``VisionTransformer`` built with
``use_mean_pooling=False``, ``qkv_bias=True``, no relative position bias, no layer scale), so
``EvaViT(config).state_dict()`` has exactly the released keys with the ``visual_encoder.`` prefix removed:

    patch_embed.proj.{weight,bias}, cls_token, pos_embed,
    blocks.N.norm1.{weight,bias}, blocks.N.attn.qkv.weight, blocks.N.attn.q_bias, blocks.N.attn.v_bias,
    blocks.N.attn.proj.{weight,bias}, blocks.N.norm2.{weight,bias},
    blocks.N.mlp.fc1.{weight,bias}, blocks.N.mlp.fc2.{weight,bias}

LAVIS keeps the final ``norm``, ``fc_norm`` and ``head`` of the original ViT commented out, and its
relative-position tables and layer-scale ``gamma`` are ``None`` (not registered) for this build, so the
module holds no key that BLIP-2 leaves unused: :data:`UNUSED_KEYS` is empty. The forward pass returns the
last block's tokens without any final norm; the separate ``ln_vision`` that follows belongs to the caller
(:class:`VisionLayerNorm`, checkpoint prefix ``ln_vision.``).

LAVIS interpolates ``pos_embed`` bicubically when it *loads* a checkpoint made for another image size and
asserts the input size at run time. The released model is 224 only, so :class:`EvaViT` accepts exactly
``config.image_size`` and raises otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import VisionConfig

#: Keys of the released ``visual_encoder.*`` weights that this module knowingly does not use (none).
UNUSED_KEYS: tuple[str, ...] = ()

#: ``ln_vision`` is LAVIS's ``LayerNorm(num_features)``: torch's default eps, not the ViT's 1e-6.
LN_VISION_EPS = 1e-5


class EvaAttention(nn.Module):
    """Multi-head self-attention whose qkv projection has a query and a value bias but no key bias.

    qkv = x·W_qkvᵀ + [q_bias, 0, v_bias];  out = proj(softmax(q·kᵀ/√d_head)·v).
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(width))
        self.v_bias = nn.Parameter(torch.zeros(width))
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.reshape(batch, tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))


class EvaMlp(nn.Module):
    """fc2(GELU(fc1(x))) with the exact (erf) GELU."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EvaBlock(nn.Module):
    """Pre-norm transformer block: x += attn(norm1(x)); x += mlp(norm2(x))."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.width, eps=config.eps)
        self.attn = EvaAttention(config.width, config.heads)
        self.norm2 = nn.LayerNorm(config.width, eps=config.eps)
        self.mlp = EvaMlp(config.width, config.mlp_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` patches projected by a strided convolution to ``width`` channels."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, config.width, kernel_size=config.patch_size, stride=config.patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class EvaViT(nn.Module):
    """EVA ViT-g/14 feature extractor: images B×3×S×S → tokens B×(1+(S/p)²)×width, [CLS] first.

    tokens = blocks([cls_token; patch_embed(images)] + pos_embed), no final norm, no pooling.
    """

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        if config.width % config.heads:
            raise ValueError(f"vision width {config.width} is not divisible by its {config.heads} heads")
        self.config = config
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.tokens, config.width))
        self.blocks = nn.ModuleList(EvaBlock(config) for _ in range(config.depth))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(
                f"the image encoder expects images of shape (batch, 3, {size}, {size}), got "
                f"{tuple(images.shape)}; resize reference images to {size}×{size} before encoding"
            )
        patches = self.patch_embed(images)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        x = torch.cat((cls, patches), dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return x


class VisionLayerNorm(nn.LayerNorm):
    """``ln_vision``: LayerNorm(width, eps 1e-5) computed in float32 and returned in the input's dtype.

    LAVIS's ``LayerNorm`` subclass upcasts to float32 so that fp16/bf16 features are normalised in full
    precision; the result is cast back to the dtype that came in.
    """

    def __init__(self, config: VisionConfig) -> None:
        super().__init__(config.width, eps=LN_VISION_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normalised = F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps)
        return normalised.to(x.dtype)
