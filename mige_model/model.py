"""The MIGE module: multimodal encoder parts and the DiT, under the released checkpoint's key names.

The authors' module holds everything at one level (``visual_encoder.``, ``ln_vision.``, ``Qformer.``,
``query_tokens``, ``t5_model.``, ``t5_proj.``, ``FFM.`` and the DiT's ``x_embedder.``, ``blocks.N.``, …).
:class:`MIGEModule` keeps the encoder parts under those names and the DiT under ``dit.``; the T5 encoder
is a transformers ``T5EncoderModel`` held outside (it is freed or offloaded after encoding), so the key
mapping is: DiT keys gain ``dit.``, ``t5_model.`` keys go to T5, everything else is unchanged
(:mod:`mige_model.checkpoint`).

One reference image becomes 32 instruction tokens (docs/mige_model.md):

    semantic = Qformer(query_tokens, bf16(ln_vision(visual_encoder(image_224))))  32 × 768
    visual   = dit.embed_patches([vae_latent_512 (unscaled), 4 zero channels])    1024 × 1152
    tokens   = t5_proj(FFM(semantic, visual))                                     32 × t5_dim
"""

from __future__ import annotations

import torch
from torch import nn

from mige_model.config import MIGEConfig
from mige_model.dit import PixArtDiT
from mige_model.fusion import FeatureFusion
from mige_model.qformer import QFormer
from mige_model.vision import EvaViT, VisionLayerNorm

#: Top-level names of the DiT's parameters in the released checkpoint.
DIT_PREFIXES = ("x_embedder.", "t_embedder.", "t_block.", "y_embedder.", "blocks.", "final_layer.", "pos_embed")
#: The released model rounds the image features to this before the Q-Former, in every precision.
QFORMER_INPUT_DTYPE = torch.bfloat16
#: Prefix of the T5 encoder's parameters in the released checkpoint.
T5_PREFIX = "t5_model."


class MIGEModule(nn.Module):
    """Everything of MIGE but T5 and the VAE; sizes from :class:`MIGEConfig`."""

    def __init__(self, config: MIGEConfig) -> None:
        super().__init__()
        self.config = config
        self.visual_encoder = EvaViT(config.vision)
        self.ln_vision = VisionLayerNorm(config.vision)
        self.Qformer = QFormer(config.qformer, encoder_width=config.vision.width)
        self.query_tokens = nn.Parameter(torch.zeros(1, config.qformer.query_tokens, config.qformer.hidden))
        self.FFM = FeatureFusion(config.fusion, dim=config.qformer.hidden, visual_dim=config.dit.hidden)
        self.t5_proj = nn.Linear(config.qformer.hidden, config.t5_dim)
        self.dit = PixArtDiT(config.dit)

    def image_tokens(self, pixels: torch.Tensor, latents: torch.Tensor, *, encoder_fp16: bool = False) -> torch.Tensor:
        """Instruction tokens of n reference images: n×Q×t5_dim.

        ``pixels``: n×3×224×224, CLIP-normalised (the Q-Former's view); ``latents``: n×4×h×w, the VAE
        posterior samples of the same images at 512, *not* multiplied by the VAE scale factor.
        ``encoder_fp16`` runs the image encoder under float16 autocast, as the authors do on CUDA. The image
        features reach the Q-Former rounded to bf16 in every precision: ``MIGE.forward`` casts ``ln_vision``'s
        output to bf16 whatever the rest runs in, and the model was trained that way.
        """
        if pixels.shape[0] != latents.shape[0]:
            raise ValueError(
                f"got {pixels.shape[0]} images for the Q-Former but {latents.shape[0]} VAE latents; "
                "give both views of every reference image"
            )
        pixels = pixels.to(device=self.query_tokens.device, dtype=self.query_tokens.dtype)
        with torch.autocast(pixels.device.type, dtype=torch.float16, enabled=encoder_fp16):
            semantic = self.ln_vision(self.visual_encoder(pixels))
        semantic = semantic.to(QFORMER_INPUT_DTYPE).to(self.query_tokens.dtype)
        queries = self.Qformer(self.query_tokens.expand(pixels.shape[0], -1, -1), semantic)
        padded = torch.cat([latents, torch.zeros_like(latents)], dim=1)
        visual = self.dit.embed_patches(padded)
        return self.t5_proj(self.FFM(queries, visual))


def released_name(key: str) -> str:
    """The released checkpoint's name of one of :class:`MIGEModule`'s state-dict keys."""
    return key.removeprefix("dit.")


def module_name(released: str) -> str:
    """Where a released (non-T5) key lives in :class:`MIGEModule`."""
    return "dit." + released if released.startswith(DIT_PREFIXES) else released
