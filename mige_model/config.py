"""Sizes of every MIGE component, defaulting to the released model (see docs/mige_model.md).

The released ``model.pth`` carries no configuration: the sizes are those of the authors' architecture
(EVA ViT-g/14, BLIP-2 Q-Former, PixArt-α XL/2 at 512). A ``mige_config.json`` beside the weights
overrides them; the converted layout always writes one, and tests use it for tiny models.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_NAME = "mige_config.json"


@dataclass(frozen=True, kw_only=True)
class VisionConfig:
    """EVA ViT-g/14 as BLIP-2 builds it: no final norm, no mean pooling, [CLS] kept (257 tokens)."""

    image_size: int = 224
    patch_size: int = 14
    width: int = 1408
    depth: int = 39
    heads: int = 16
    mlp_ratio: float = 4.3637
    eps: float = 1e-6

    @property
    def mlp_width(self) -> int:
        return int(self.width * self.mlp_ratio)

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1


@dataclass(frozen=True, kw_only=True)
class QFormerConfig:
    """BLIP-2's BERT-base Q-Former, query branch only; cross-attention every ``cross_attention_freq``."""

    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    cross_attention_freq: int = 2
    query_tokens: int = 32
    eps: float = 1e-12


@dataclass(frozen=True, kw_only=True)
class FusionConfig:
    """The feature-fusion module: Q-Former tokens attend to the DiT-embedded VAE tokens of the image."""

    heads: int = 8
    eps: float = 1e-6


@dataclass(frozen=True, kw_only=True)
class DiTConfig:
    """PixArt-α XL/2 at 512 with the conditional latent concatenated along channels (8 in, 8 out)."""

    latent_size: int = 64
    patch_size: int = 2
    in_channels: int = 8
    out_channels: int = 8
    hidden: int = 1152
    depth: int = 28
    heads: int = 16
    mlp_ratio: float = 4.0
    caption_dim: int = 4096
    caption_tokens: int = 256
    pe_interpolation: float = 1.0
    base_size: int = 32
    eps: float = 1e-6

    @property
    def tokens(self) -> int:
        return (self.latent_size // self.patch_size) ** 2


@dataclass(frozen=True, kw_only=True)
class MIGEConfig:
    """Everything that sizes the MIGE module; T5 and the VAE bring their own configs from their folders."""

    vision: VisionConfig = field(default_factory=VisionConfig)
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    t5_dim: int = 4096
    max_images: int = 4
    vae_scale: float = 0.18215
    image_size: int = 512

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MIGEConfig:
        parts = {"vision": VisionConfig, "qformer": QFormerConfig, "fusion": FusionConfig, "dit": DiTConfig}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{CONFIG_NAME}: unknown fields {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name in parts:
                try:
                    kwargs[name] = parts[name](**value)
                except TypeError as error:
                    raise ValueError(f"{CONFIG_NAME}: section {name!r}: {error}") from None
            else:
                kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def load(cls, directory: Path) -> MIGEConfig:
        """The config in ``directory``, or the released model's sizes when the file is absent."""
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            return cls()
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path
