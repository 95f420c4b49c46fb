"""The two views MIGE takes of every picture, and the way its latents become an image again.

- Q-Former view (BLIP eval processor): RGB, resized to the encoder's square size with bicubic
  filtering, no crop, CLIP mean/std.
- VAE view, as each released script makes it, scaled to [-1, 1]:
  ``crop`` (editing and MIGEBench): shorter side resized to the generation size (bilinear,
  torchvision's default; the long side is ``int(size · long / short)``), centre crop with torchvision's
  rounding; ``pad`` (subject generation): longer side resized to the size (bicubic; the short side is
  ``int(size · short / long)``), black borders around it, left/top ``(size − side) // 2``.
- Output: clamp to [-1, 1], map to [0, 255] and round half up, as ``torchvision.utils.save_image``.

Any PIL mode is accepted: pictures are converted to RGB first (an alpha channel is dropped, palette and
grey images are expanded), so RGBA, P, L or CMYK inputs give the RGB picture a viewer shows.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from mige_eval.images import to_rgb
from mige_eval.metrics.backbones import CLIP_MEAN, CLIP_STD
from mige_eval.metrics.transforms import center_crop, resize_shorter_side


def rgb(image: Image.Image) -> Image.Image:
    """The picture as 8-bit RGB, by mige-eval's decoding rule (:func:`mige_eval.images.to_rgb`)."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(image).__name__}")
    return to_rgb(image)


def qformer_view(image: Image.Image, size: int) -> torch.Tensor:
    """3×size×size, CLIP-normalised."""
    pixels = np.asarray(rgb(image).resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255.0
    normalised = (pixels - CLIP_MEAN) / CLIP_STD
    return torch.from_numpy(normalised.transpose(2, 0, 1).copy())


def vae_view(image: Image.Image, size: int, *, fit: str = "crop") -> torch.Tensor:
    """3×size×size in [-1, 1]; ``fit`` = ``crop`` (shorter side to ``size``, centre crop) or ``pad``
    (longer side to ``size``, black letterbox)."""
    image = rgb(image)
    if fit == "crop":  # torchvision's Resize(size) (bilinear) + CenterCrop(size), same rounding
        square = center_crop(resize_shorter_side(image, size, Image.Resampling.BILINEAR), size)
    elif fit == "pad":
        square = _letterbox(image, size)
    else:
        raise ValueError(f"fit must be 'crop' or 'pad', got {fit!r}")
    pixels = np.asarray(square, np.float32) / 255.0
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()) * 2.0 - 1.0


def _letterbox(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    resized = (size, int(size * height / width)) if width > height else (int(size * width / height), size)
    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    canvas.paste(image.resize(resized, Image.Resampling.BICUBIC), ((size - resized[0]) // 2, (size - resized[1]) // 2))
    return canvas


def to_image(decoded: torch.Tensor) -> Image.Image:
    """A decoded 3×H×W tensor in [-1, 1] → RGB image (values clamped, then ``floor(255·v + 0.5)``)."""
    unit = (decoded.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) / 2.0
    pixels = (unit * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).numpy(), "RGB")
