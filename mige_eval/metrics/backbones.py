"""The CLIP and DINO backbones: where their files come from, how an image or a text is prepared, one forward pass.

Why explicit: METRICS.md §2 fixes every step. The processors shipped with the checkpoints are never
used (``facebook/dino-vits16``'s squashes images bilinearly to 224² without a crop); the transforms
below apply the published recipes on 8-bit RGB PIL images with the rounding of §2.1. A backbone is a
:class:`ScoringContext` service: built once per run, its weights loaded on the first forward pass,
so a run whose features are all cached never loads them. :meth:`Backbone.prepare` checks the device,
the precision and the checkpoint's kind up front, before any sample is scored.

A model is a hub id (optionally ``id@revision``) or a local directory. Hub ids resolve through the
Hugging Face cache (``HF_HUB_OFFLINE=1`` never touches the network); the resolved commit — or, for a
local directory, a digest of its config and weights — is the ``revision`` that keys cached features.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from mige_eval.adapters.common import hub_offline, is_local, load_pretrained, require, resolve_device, resolve_dtype
from mige_eval.errors import MissingWeightsError
from mige_eval.metrics.transforms import center_crop, resize_shorter_side
from mige_eval.presets import BACKBONE_IDS

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
#: Hub files a backbone needs: config, tokenizer, safetensors weights (``pytorch_model.bin`` only as a fallback).
HUB_FILES = ["*.json", "*.txt", "*.safetensors"]
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class BackboneError(ValueError):
    """A checkpoint that cannot serve the metric asking for it (wrong kind, wrong input size)."""


def to_chw(img: Image.Image, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """8-bit RGB → 3×H×W float32, scaled to [0, 1] then normalised (ToTensor + Normalize)."""
    x = np.asarray(img, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1))


def clip_pixels(img: Image.Image, size: int = 224) -> np.ndarray:
    """CLIP (§2.2): shorter side → ``size`` bicubic, centre crop ``size``, CLIP statistics."""
    return to_chw(center_crop(resize_shorter_side(img, size), size), CLIP_MEAN, CLIP_STD)


def dino_pixels(img: Image.Image) -> np.ndarray:
    """DINO k-NN transform (§2.3): shorter side → 256 bicubic, centre crop 224, ImageNet statistics."""
    return to_chw(center_crop(resize_shorter_side(img, DINO_RESIZE), DINO_CROP), IMAGENET_MEAN, IMAGENET_STD)


def ip2p_pixels(img: Image.Image, size: int = 224) -> np.ndarray:
    """InstructPix2Pix ClipSimilarity (preset ``ip2p``): the [0, 1] tensor bicubically interpolated to size²."""
    torch = require("torch", extra="metrics", purpose="the ip2p clip_dir preprocessing")
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / np.float32(255.0)).permute(2, 0, 1)[None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)[0]
    mean, std = (torch.from_numpy(v)[:, None, None] for v in (CLIP_MEAN, CLIP_STD))
    return ((x - mean) / std).numpy()


def split_revision(model: str) -> tuple[str, str | None]:
    """``org/name@rev`` → (``org/name``, ``rev``); a local directory never carries a revision."""
    if not is_local(model) and "@" in model:
        name, _, rev = model.partition("@")
        return name, rev or None
    return model, None


def model_for(ctx: ScoringContext, role: str) -> str:
    """The model a role uses: ``--clip-model`` / ``--dino-model``, else the backbone preset's id."""
    override = ctx.options.clip_model if role == "clip" else ctx.options.dino_model
    return override or BACKBONE_IDS[ctx.presets[ROLES[role][0]]]


def weights_digest(folder: Path) -> str:
    """sha256 over ``config.json`` and the weight files of a local model directory (names and bytes)."""
    h = hashlib.sha256()
    files = [folder / "config.json"] + sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    for path in files:
        if path.is_file():
            h.update(path.name.encode() + b"\0")
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
    return h.hexdigest()


def fetch(model_id: str, revision: str | None = None, *, offline: bool = False) -> Path:
    """A hub model's snapshot folder in the Hugging Face cache, downloading what is missing unless offline."""
    hub = require("huggingface_hub", extra="metrics", purpose="fetching a backbone from the Hugging Face hub")
    kwargs: dict[str, Any] = {"revision": revision, "local_files_only": offline}
    try:
        folder = Path(hub.snapshot_download(model_id, allow_patterns=HUB_FILES, **kwargs))
        if not any(folder.glob("*.safetensors")):
            folder = Path(hub.snapshot_download(model_id, allow_patterns=["pytorch_model.bin"], **kwargs))
    except (OSError, ValueError) as exc:  # hub errors: not cached offline, unknown repo or revision, no network
        hint = (f"backbone {model_id!r}{f' at revision {revision}' if revision else ''} is not available locally"
                + (" and HF_HUB_OFFLINE is set" if offline else "") + ". Fetch it on a machine with network "
                f"access with `mige-eval download --backbones` (the defaults) or `hf download {model_id}`, or pass "
                "a local directory holding its files to --clip-model / --dino-model")
        raise MissingWeightsError(f"{hint} (hub said: {type(exc).__name__}: {exc})") from exc
    return folder


def download_backbones(ids: Sequence[str] = ()) -> list[Path]:
    """Fetch backbones (default: the default CLIP and DINO) into the Hugging Face cache for offline use."""
    wanted = list(ids) or [ROLES[role][2] for role in ROLES]
    return [fetch(*split_revision(model)) for model in wanted]


class Backbone:
    """One CLIP or DINO model on one device and precision; weights load on the first forward pass."""

    def __init__(self, role: str, model: str, device: str = "auto", precision: str = "fp32"):
        if role not in ROLES:
            raise ValueError(f"unknown backbone role {role!r}: use {' or '.join(ROLES)}")
        self.role, self.precision, self.requested_device = role, precision, device
        self.model_id, self.requested_revision = split_revision(model)
        self.device, self.dtype, self.config = None, None, None  # set by prepare()
        self.revision: str | None = None
        self.folder: Path | None = None
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def what(self) -> str:
        return f"--{self.role}-model {self.model_id}"

    def prepare(self) -> Backbone:
        """Resolve device, precision and files and check the checkpoint's kind, without loading weights."""
        if self.config is not None:
            return self
        self.device = resolve_device(self.requested_device)
        try:
            self.dtype = resolve_dtype(self.precision, self.device)
        except ValueError:
            raise ValueError(f"preset {self.precision} runs the {self.role} backbone in half precision, which needs "
                             f"a CUDA device (--device cuda); on {self.device} keep the default fp32") from None
        if is_local(self.model_id):
            self.folder = Path(self.model_id).expanduser()
            if not self.folder.is_dir():
                raise MissingWeightsError(f"{self.what}: local model directory {self.folder} does not exist")
        else:
            self.folder = fetch(self.model_id, self.requested_revision, offline=hub_offline())
        config = self._load("AutoConfig")
        accepted, example = ROLES[self.role][1], ROLES[self.role][2]
        if config.model_type not in accepted:
            raise BackboneError(f"{self.what} is a {config.model_type!r} checkpoint, but the {self.role} metrics need "
                                f"a {' or '.join(accepted)} model such as {example}")
        if self.role == "dino" and config.image_size != DINO_CROP:
            raise BackboneError(f"{self.what} expects {config.image_size}px inputs; the DINO transform gives {DINO_CROP}px")
        self.revision = self.folder.name if self.folder.parent.name == "snapshots" else (
            "sha256:" + weights_digest(self.folder))
        self.config = config
        return self

    @property
    def fingerprint(self) -> str:
        """What identifies this backbone's features: hub id and commit, or a local folder's digest; precision."""
        self.prepare()
        return f"{'local' if is_local(self.model_id) else self.model_id}@{self.revision}|{self.precision}"

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records of the backbone a run used."""
        return {"id": self.model_id, "revision": self.revision, "precision": self.precision,
                "device": self.device}

    @property
    def image_size(self) -> int:
        self.prepare()
        return self.config.vision_config.image_size if self.role == "clip" else DINO_CROP

    def pixels(self, img: Image.Image, recipe: str) -> np.ndarray:
        """One image prepared by ``recipe`` (``clip``, ``clip_ip2p`` or ``dino``)."""
        if recipe == "dino":
            return dino_pixels(img)
        return (ip2p_pixels if recipe == "clip_ip2p" else clip_pixels)(img, self.image_size)

    def _load(self, loader: str, **kwargs: Any) -> Any:
        """``transformers.<loader>.from_pretrained`` on the model folder; any failure names the folder and stops the run."""
        transformers = require("transformers", extra="metrics", purpose=f"the {self.role} metrics")
        if not (self.folder / "config.json").is_file():
            raise MissingWeightsError(f"{self.what}: {self.folder} has no config.json; pass a folder saved with "
                                      "save_pretrained (config, weights, tokenizer) or a hub id")
        try:
            return load_pretrained(getattr(transformers, loader), str(self.folder), what=self.what, **kwargs)
        except MissingWeightsError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint is the same error for every sample
            raise MissingWeightsError(f"{self.what}: cannot load {self.folder} ({type(exc).__name__}: {exc}); "
                                      "re-download it or pass another model") from exc

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
            return self._projected(model.get_text_features(input_ids=ids.to(self.device),
                                                           attention_mask=mask.to(self.device)))

    def _projected(self, out: Any) -> np.ndarray:
        """transformers 5 returns an output object whose ``pooler_output`` is the projection; check its width."""
        emb = getattr(out, "pooler_output", out)
        if emb.shape[-1] != self.config.projection_dim:
            raise BackboneError(f"{self.what} returned {emb.shape[-1]}-d features, not the "
                                f"{self.config.projection_dim}-d projected CLIP embedding")
        return self._numpy(emb)

    @staticmethod
    def _numpy(t: Any) -> np.ndarray:
        return t.float().cpu().numpy().astype(np.float32, copy=False)


def backbone(ctx: ScoringContext, role: str) -> Backbone:
    """The run's backbone for ``role`` (``clip`` or ``dino``), built once per run."""
    return ctx.service(f"backbone:{role}", lambda: Backbone(role, model_for(ctx, role), ctx.options.device,
                                                             ctx.presets["precision"]))
