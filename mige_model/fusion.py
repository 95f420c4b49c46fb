"""MIGE's feature-fusion module (FFM, checkpoint prefix ``FFM.``): Q-Former tokens read the image's VAE tokens.

The Q-Former tokens carry what the image *means*; the VAE latent, embedded by the DiT's own patch
embedder, carries how it *looks*. The fusion lets each query attend to the VAE tokens and adds what it
finds through a zero-initialised projection, so a freshly built module passes the queries through
(up to the final LayerNorm). With x the queries (B×Q×dim) and v the VAE tokens (B×T×visual_dim):

    q  = LN_q(W_q·x)                       W_q: dim→dim, no bias                 (q_proj_1, ln_q_1)
    k  = LN_k(f_k(v)),  v' = LN_v(f_v(v))  f = Linear(visual_dim→dim), GELU(erf), Linear(dim→dim)
                                                                    (k_proj_1 / v_proj_1, ln_k_1 / ln_v_1)
    a  = MultiheadAttention(dim, heads)(q, k, v')   sequence-first, as torch's default layout (clip_attn)
    out = LN_out(x + W_o·a)                W_o: dim→dim, weight and bias zero at init          (mlp, ln_out)

Attribute names follow the authors' ``diffusion/model/nets/FFM_module.py`` (their ``f_k``/``f_v`` are
``nn.Sequential``, hence the ``.0``/``.2`` indices in the keys); every LayerNorm uses ``config.eps``.
The authors hard-code dim 768 and visual_dim 1152 (Q-Former width, DiT width); here the caller passes them.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import FusionConfig
from .shapes import require_tokens


def _projection(visual_dim: int, dim: int) -> nn.Sequential:
    """f(v) = Linear(dim→dim)(GELU(Linear(visual_dim→dim)(v))); keys ``0.*`` and ``2.*``."""
    return nn.Sequential(nn.Linear(visual_dim, dim), nn.GELU(), nn.Linear(dim, dim))


class FeatureFusion(nn.Module):
    """Cross-attention of queries B×Q×dim over visual tokens B×T×visual_dim, residual, LayerNorm."""

    def __init__(self, config: FusionConfig, *, dim: int, visual_dim: int) -> None:
        super().__init__()
        if dim % config.heads:
            raise ValueError(f"fusion dim {dim} is not divisible by its {config.heads} heads")
        self.dim = dim
        self.visual_dim = visual_dim
        self.q_proj_1 = nn.Linear(dim, dim, bias=False)
        self.k_proj_1 = _projection(visual_dim, dim)
        self.v_proj_1 = _projection(visual_dim, dim)
        self.ln_q_1 = nn.LayerNorm(dim, eps=config.eps)
        self.ln_k_1 = nn.LayerNorm(dim, eps=config.eps)
        self.ln_v_1 = nn.LayerNorm(dim, eps=config.eps)
        self.ln_out = nn.LayerNorm(dim, eps=config.eps)
        self.clip_attn = nn.MultiheadAttention(dim, config.heads)
        self.mlp = nn.Linear(dim, dim)
        nn.init.zeros_(self.mlp.weight)
        nn.init.zeros_(self.mlp.bias)

    def forward(self, queries: torch.Tensor, visual_tokens: torch.Tensor) -> torch.Tensor:
        require_tokens(queries, self.dim, name="fusion queries", axis="queries", hint="pass the Q-Former output")
        require_tokens(
            visual_tokens,
            self.visual_dim,
            name="fusion visual tokens",
            axis="tokens",
            hint="pass the DiT-embedded VAE latent of the same images",
        )
        if queries.shape[0] != visual_tokens.shape[0]:
            raise ValueError(
                f"fusion got queries for {queries.shape[0]} images but visual tokens for "
                f"{visual_tokens.shape[0]}; both must come from the same images in the same order"
            )
        # nn.MultiheadAttention without batch_first takes (length, batch, dim).
        query = self.ln_q_1(self.q_proj_1(queries)).transpose(0, 1)
        key = self.ln_k_1(self.k_proj_1(visual_tokens)).transpose(0, 1)
        value = self.ln_v_1(self.v_proj_1(visual_tokens)).transpose(0, 1)
        attended, _ = self.clip_attn(query, key, value)
        return self.ln_out(queries + self.mlp(attended.transpose(0, 1)))
