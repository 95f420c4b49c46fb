"""The CLIP and DINO backbones: where their files come from, how an image or a text is prepared, one forward pass.

Why explicit: the published conventions (docs/metrics.md, "Backbones") fix every step. The processors
shipped with the checkpoints are never used (``facebook/dino-vits16``'s squashes images bilinearly to 224²
without a crop); the transforms below apply the published recipes on 8-bit RGB PIL images with the rounding
of the published scripts. Where the files come from, what identifies them and when they load is the
:class:`~mige_eval.metrics.checkpoint.Checkpoint` base, shared with the subject-crop models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mige_eval.metrics.checkpoint import BackboneError, Checkpoint, fetch, split_revision
from mige_eval.metrics.transforms import center_crop, resize_shorter_side
from mige_eval.presets import BACKBONE_IDS
from mige_eval.runtime import require

if TYPE_CHECKING:
    from PIL import Image

    from mige_eval.metrics.base import ScoringContext

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DINO_RESIZE, DINO_CROP = 256, 224

#: role → (preset area naming its default, ``config.json`` model types it accepts, example id).
ROLES = {
    "clip": ("clip_backbone", ("clip",), "openai/clip-vit-base-patch32"),
    "dino": ("dino_backbone", ("vit",), "facebook/dino-vits16"),
}
#: Image recipes (the feature kinds of :mod:`features`) → the role whose model encodes them.
RECIPES = {"clip": "clip", "clip_ip2p": "clip", "dino": "dino"}


def to_chw(img: Image.Image, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """8-bit RGB → 3×H×W float32, scaled to [0, 1] then normalised (ToTensor + Normalize)."""
    x = np.asarray(img, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1))


def clip_pixels(img: Image.Image, size: int = 224) -> np.ndarray:
    """CLIP (docs/metrics.md, CLIP): shorter side → ``size`` bicubic, centre crop ``size``, CLIP statistics."""
    return to_chw(center_crop(resize_shorter_side(img, size), size), CLIP_MEAN, CLIP_STD)


def dino_pixels(img: Image.Image) -> np.ndarray:
    """DINO k-NN transform (docs/metrics.md, DINO): shorter side → 256 bicubic, centre crop 224, ImageNet statistics."""
    return to_chw(center_crop(resize_shorter_side(img, DINO_RESIZE), DINO_CROP), IMAGENET_MEAN, IMAGENET_STD)


def ip2p_pixels(img: Image.Image, size: int = 224) -> np.ndarray:
    """InstructPix2Pix ClipSimilarity (preset ``ip2p``): the [0, 1] tensor bicubically interpolated to size²."""
    torch = require("torch", extra="metrics", purpose="the ip2p clip_dir preprocessing")
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / np.float32(255.0)).permute(2, 0, 1)[None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)[0]
    mean, std = (torch.from_numpy(v)[:, None, None] for v in (CLIP_MEAN, CLIP_STD))
    return ((x - mean) / std).numpy()


def model_for(ctx: ScoringContext, role: str) -> str:
    """The model a role uses: ``--clip-model`` / ``--dino-model``, else the backbone preset's id."""
    override = ctx.options.clip_model if role == "clip" else ctx.options.dino_model
    return override or BACKBONE_IDS[ctx.presets[ROLES[role][0]]]


def download_backbones(ids: Sequence[str] = ()) -> list[Path]:
    """Fetch backbones (default: the default CLIP and DINO) into the Hugging Face cache for offline use."""
    wanted = list(ids) or [ROLES[role][2] for role in ROLES]
    return [fetch(*split_revision(model), what="backbone") for model in wanted]


class Backbone(Checkpoint):
    """One CLIP or DINO model on one device and precision; weights load on the first forward pass."""

    def __init__(self, role: str, model: str, device: str = "auto", precision: str = "fp32"):
        if role not in ROLES:
            raise ValueError(f"unknown backbone role {role!r}: use {' or '.join(ROLES)}")
        super().__init__(model, device, precision)
        self.role, self.needed_by = role, f"the {role} metrics"
        self.model_types, self.example = ROLES[role][1], ROLES[role][2]
        self._tokenizer: Any = None

    def check(self, config: Any) -> None:
        if self.role == "dino" and config.image_size != DINO_CROP:
            raise BackboneError(
                f"{self.what} expects {config.image_size}px inputs; the DINO transform gives {DINO_CROP}px"
            )

    @property
    def image_size(self) -> int:
        self.prepare()
        return self.config.vision_config.image_size if self.role == "clip" else DINO_CROP

    def pixels(self, img: Image.Image, recipe: str) -> np.ndarray:
        """One image prepared by ``recipe`` (``clip``, ``clip_ip2p`` or ``dino``)."""
        if recipe == "dino":
            return dino_pixels(img)
        return (ip2p_pixels if recipe == "clip_ip2p" else clip_pixels)(img, self.image_size)

    def model(self) -> Any:
        if self._model is None:
            self.prepare()
            if self.role == "clip":
                model = self._load("CLIPModel", dtype=self.dtype)
            else:  # the DINO checkpoints carry no pooler: never build a randomly initialised one
                model = self._load("ViTModel", dtype=self.dtype, add_pooling_layer=False)
            self._model = model.to(self.device).eval()
        return self._model

    def encode_pixels(self, batch: np.ndarray) -> np.ndarray:
        """N×3×H×W prepared images → N×D features (DINO: [CLS] of the last hidden state; CLIP: projected)."""
        torch = require("torch", extra="metrics", purpose=f"the {self.role} metrics")
        model = self.model()
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, self.dtype)
            if self.role == "dino":
                return self._numpy(model(pixel_values=x).last_hidden_state[:, 0])
            return self._projected(model.get_image_features(pixel_values=x))

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = self.prepare()._load("AutoTokenizer")
        return self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> tuple[list[tuple[int, ...]], list[bool]]:
        """Token ids at CLIP's context; longer texts keep the start token, the first 75 tokens and end-of-text."""
        if self.role != "clip":
            raise BackboneError(f"{self.what} has no text encoder")
        tok = self.tokenizer()
        context = self.prepare().config.text_config.max_position_embeddings
        ids_list, truncated = [], []
        for ids in tok(list(texts), add_special_tokens=True, verbose=False)["input_ids"]:
            truncated.append(len(ids) > context)
            ids_list.append(tuple(ids[: context - 1]) + (tok.eos_token_id,) if len(ids) > context else tuple(ids))
        return ids_list, truncated

    def encode_tokens(self, ids_list: Sequence[Sequence[int]]) -> np.ndarray:
        """Token id sequences → N×D projected text embeddings, pooled at the end-of-text token."""
        torch = require("torch", extra="metrics", purpose="the clip_t and clip_dir metrics")
        tok, model = self.tokenizer(), self.model()
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        width = max(len(ids) for ids in ids_list)
        ids = torch.full((len(ids_list), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids_list), width), dtype=torch.long)
        for row, seq in enumerate(ids_list):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.inference_mode():
            return self._projected(
                model.get_text_features(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
            )

    def _projected(self, out: Any) -> np.ndarray:
        """transformers 5 returns an output object whose ``pooler_output`` is the projection; check its width."""
        emb = getattr(out, "pooler_output", out)
        if emb.shape[-1] != self.config.projection_dim:
            raise BackboneError(
                f"{self.what} returned {emb.shape[-1]}-d features, not the "
                f"{self.config.projection_dim}-d projected CLIP embedding"
            )
        return self._numpy(emb)

    @staticmethod
    def _numpy(t: Any) -> np.ndarray:
        return t.float().cpu().numpy().astype(np.float32, copy=False)


def backbone(ctx: ScoringContext, role: str) -> Backbone:
    """The run's backbone for ``role`` (``clip`` or ``dino``), built once per run."""
    return ctx.service(
        f"backbone:{role}", lambda: Backbone(role, model_for(ctx, role), ctx.options.device, ctx.presets["precision"])
    )
