"""An independent reference for image and text features, shared by the metric and benchmark tests.

:class:`Independent` recomputes every feature from the published definitions with Pillow, numpy and
direct calls into the model's submodules — none of the project's transforms, tokenisation or pooling.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from mige_eval.images import ImageRef
from mige_eval.types import Sample
from tiny_models import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD


def ref_of(path: Path) -> ImageRef:
    return ImageRef.from_path(path, f"{path.parent.name}/{path.name}")


def sample(sample_id: str = "s", **fields) -> Sample:
    return Sample(
        id=sample_id, task=fields.pop("task", "edit"), subset=fields.pop("subset", "test"), instruction="", **fields
    )


def rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


class Independent:
    """Features from the published definitions: Pillow + numpy preprocessing, direct submodule calls."""

    def __init__(self, clip_dir: Path, dino_dir: Path):
        from transformers import CLIPModel, CLIPTokenizer, ViTModel

        self.clip = CLIPModel.from_pretrained(clip_dir).eval()
        self.dino = ViTModel.from_pretrained(dino_dir, add_pooling_layer=False).eval()
        self.tokenizer = CLIPTokenizer.from_pretrained(clip_dir)

    @staticmethod
    def resize_crop(img: Image.Image, short: int, crop: int) -> Image.Image:
        w, h = img.size
        size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
        img = img.resize(size, Image.Resampling.BICUBIC) if size != img.size else img
        top, left = round((img.height - crop) / 2), round((img.width - crop) / 2)
        return img.crop((left, top, left + crop, top + crop))

    @staticmethod
    def tensor(img: Image.Image, mean, std):
        import torch

        x = (np.asarray(img, dtype=np.float64) / 255.0 - np.array(mean)) / np.array(std)
        return torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))

    def dino_features(self, img: Image.Image) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = self.tensor(self.resize_crop(img, 256, 224), IMAGENET_MEAN, IMAGENET_STD)
            return self.dino(pixel_values=x).last_hidden_state[0, 0].numpy()

    def clip_image(self, img: Image.Image, ip2p: bool = False) -> np.ndarray:
        import torch

        with torch.no_grad():
            if ip2p:
                x = torch.from_numpy(np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0)
                x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False)
                x = (x - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
            else:
                x = self.tensor(self.resize_crop(img, 224, 224), CLIP_MEAN, CLIP_STD)
            pooled = self.clip.vision_model(pixel_values=x).pooler_output
            return self.clip.visual_projection(pooled)[0].numpy()

    def token_ids(self, text: str) -> list[int]:
        """openai ``clip.tokenize(truncate=True)``: start token, first 75 tokens, end-of-text last."""
        ids = self.tokenizer(text)["input_ids"]
        return ids if len(ids) <= 77 else ids[:76] + [self.tokenizer.eos_token_id]

    def clip_text(self, text: str) -> np.ndarray:
        import torch

        ids = self.token_ids(text)
        with torch.no_grad():
            hidden = self.clip.text_model(input_ids=torch.tensor([ids])).last_hidden_state
            return self.clip.text_projection(hidden[0, len(ids) - 1])[None][0].numpy()


def cos(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / math.sqrt((a @ a) * (b @ b)))


def similarities(independent: Independent, output: Image.Image, reference: Image.Image, caption: str) -> dict:
    """``dino``, ``clip_i`` (output vs reference) and ``clip_t`` (output vs caption), recomputed independently."""
    return {
        "dino": cos(independent.dino_features(output), independent.dino_features(reference)),
        "clip_i": cos(independent.clip_image(output), independent.clip_image(reference)),
        "clip_t": cos(independent.clip_image(output), independent.clip_text(caption)),
    }
