"""Where MIGE's files are and how to read them: hub or local folder, released or converted layout.

Two layouts are understood (docs/mige_model.md):

- *released*, as the authors publish it on the hub: ``model.pth`` (a ``torch.save``d dict whose
  ``state_dict`` holds the whole module), ``sd-vae-ft-ema/`` (diffusers AutoencoderKL), ``t5-v1_1-xxl/``
  (T5 config and tokenizer, maybe weights) and the pretrained component checkpoints it was built from
  (``eva_vit_g``, ``blip2_pretrained_flant5xxl``, …);
- *converted*, written by :func:`mige_model.checkpoint.convert`: ``mige.safetensors``, ``text_encoder/``,
  ``vae/``, ``mige_config.json``, ``conversion.json`` — safetensors only, so loading it never unpickles.

This module only finds and reads files; which tensor goes where is :mod:`mige_model.checkpoint`'s job.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mige_eval.errors import MissingDependencyError, MissingWeightsError
from mige_eval.hub import is_local, load_pretrained, snapshot
from mige_model.config import CONFIG_NAME

DEFAULT_MODEL_ID = "EurekaTian/MIGE"

RELEASED_WEIGHTS = "model.pth"
VAE_FOLDER = "sd-vae-ft-ema"
T5_FOLDER = "t5-v1_1-xxl"
EVA_NAME = "eva_vit_g"
BLIP2_NAME = "blip2_pretrained_flant5xxl"

CONVERTED_WEIGHTS = "mige.safetensors"
TEXT_ENCODER_FOLDER = "text_encoder"
CONVERTED_VAE_FOLDER = "vae"
CONVERSION_RECORD = "conversion.json"

#: What a hub download fetches: either layout's files, but not the pretrained component weights
#: (EVA, BLIP-2, T5-XXL, PixArt: tens of GB), which the authors' ``model.pth`` already contains.
RELEASED_PATTERNS = (RELEASED_WEIGHTS, CONFIG_NAME, f"{VAE_FOLDER}/*", f"{T5_FOLDER}/*.json", f"{T5_FOLDER}/*.model")
CONVERTED_PATTERNS = (
    CONVERTED_WEIGHTS,
    CONFIG_NAME,
    CONVERSION_RECORD,
    f"{TEXT_ENCODER_FOLDER}/*",
    f"{CONVERTED_VAE_FOLDER}/*",
)
HUB_PATTERNS = tuple(dict.fromkeys(RELEASED_PATTERNS + CONVERTED_PATTERNS))
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def download_command(model_id: str, *patterns: str) -> str:
    """The ``hf download`` command that fetches ``patterns`` (default: the released layout's files)."""
    quoted = " ".join(f"'{p}'" if "*" in p else p for p in (patterns or RELEASED_PATTERNS))
    return f"hf download {model_id} --include {quoted}"


def locate(model_id: str | os.PathLike, *, revision: str | None) -> tuple[Path, str | None]:
    """The local folder holding the model, and the hub commit it came from (``None`` for a local folder).

    A hub id goes through the Hugging Face cache (:func:`mige_eval.hub.snapshot`: the cache only when
    ``HF_HUB_OFFLINE=1`` or the hub cannot be reached), fetching only :data:`HUB_PATTERNS`.
    """
    text = str(model_id)
    if is_local(model_id):
        root = Path(text).expanduser()
        if not root.is_dir():
            raise MissingWeightsError(
                f"MIGE model directory {root} does not exist (or is not a directory); "
                f"pass the folder holding {RELEASED_WEIGHTS} or {CONVERTED_WEIGHTS}"
            )
        if revision is not None:
            raise ValueError(
                f"revision {revision!r} applies to Hugging Face hub ids only, but {root} is a local "
                "directory: drop the revision"
            )
        return root, None
    if not _HUB_ID.match(text):
        raise MissingWeightsError(
            f"MIGE model {text!r} is neither an existing directory nor a Hugging Face hub id "
            f"(owner/name, e.g. {DEFAULT_MODEL_ID})"
        )
    fetch_with = (
        f"`{download_command(text)}`, or convert them there with `mige-eval convert-mige {text} DIR` and "
        "pass DIR instead of the id"
    )
    root = snapshot(
        text, revision=revision, allow_patterns=list(HUB_PATTERNS), what="MIGE weights", fetch_with=fetch_with
    )
    return root, root.name


def detect_layout(root: Path) -> str:
    """``converted`` when ``mige.safetensors`` is present, else ``released`` when ``model.pth`` is."""
    if (root / CONVERTED_WEIGHTS).is_file():
        return "converted"
    if (root / RELEASED_WEIGHTS).is_file():
        return "released"
    present = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    raise MissingWeightsError(
        f"{root} holds no MIGE weights: expected {RELEASED_WEIGHTS} with {VAE_FOLDER}/ and {T5_FOLDER}/ (the "
        f"authors' release) or {CONVERTED_WEIGHTS} with {TEXT_ENCODER_FOLDER}/ and {CONVERTED_VAE_FOLDER}/ "
        f"(written by mige-eval convert-mige); the folder has: {', '.join(present) or 'nothing'}"
    )


def require_folder(root: Path, name: str, *, holds: str) -> Path:
    """``root / name`` or an error that names the folder and how to fetch it."""
    folder = root / name
    if not folder.is_dir():
        raise MissingWeightsError(
            f"{folder} is missing: the released MIGE layout needs {name}/ ({holds}) next to {RELEASED_WEIGHTS}. "
            f"Fetch it with `{download_command(DEFAULT_MODEL_ID, f'{name}/*')} --local-dir {root}`"
        )
    return folder


def torch_file(path: Path) -> Any:
    """A ``torch.save``d file read safely (tensors only, no code) and memory-mapped when possible."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise _unreadable(path, exc) from exc
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types; all mean "not readable"
        raise _unreadable(path, exc) from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle errors come in many types; all mean "not readable"
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> ValueError:
    return ValueError(
        f"cannot read {path} as a PyTorch checkpoint of tensors ({exc}); re-download it "
        "(an interrupted download leaves a truncated file)"
    )


def released_state_dict(path: Path) -> dict[str, Any]:
    """The flat key → tensor dict of ``model.pth``: its ``state_dict`` entry, or the file itself when flat.

    A ``module.`` prefix (DataParallel/DDP wrappers) is removed when every key carries it.
    """
    data = torch_file(path)
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        kind = f"a dict with keys {sorted(map(str, data))[:10]}" if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{path} holds {kind}, not a state dict of tensors: expected the authors' MIGE "
            "checkpoint, a dict whose 'state_dict' entry maps parameter names to tensors"
        )
    if all(key.startswith("module.") for key in data):
        data = {key.removeprefix("module."): value for key, value in data.items()}
    return data


def component_files(root: Path, name: str) -> list[Path]:
    """The ``.pth`` files of a pretrained component: ``name/*.pth`` or ``name.pth`` beside ``model.pth``."""
    files = sorted((root / name).glob("*.pth")) if (root / name).is_dir() else []
    return files + ([root / f"{name}.pth"] if (root / f"{name}.pth").is_file() else [])


def t5_weight_files(folder: Path) -> list[Path]:
    """T5 weight files in ``folder``: safetensors (preferred) or ``pytorch_model*.bin``, shards included."""
    return sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))


def read_weights(path: Path, wanted: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    """The tensors of one weight file whose keys ``wanted`` accepts.

    safetensors files are read key by key (nothing else is loaded); ``.pth``/``.bin`` files go through
    :func:`torch_file`, memory-mapped, and a LAVIS-style ``{"model": {...}}`` wrapper is unwrapped.
    """
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(path, framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys() if wanted(key)}
    data = torch_file(path)
    for wrapper in ("model", "state_dict"):
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a dict of tensors")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor) and wanted(k)}


def file_record(path: Path, root: Path) -> dict[str, Any]:
    """Name (relative to ``root``), size and modification time of a source file, for ``conversion.json``."""
    stat = path.stat()
    return {"path": path.relative_to(root).as_posix(), "bytes": stat.st_size, "mtime": stat.st_mtime}


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def config_origin(root: Path) -> str:
    """Where the module's sizes come from, for error messages."""
    return str(root / CONFIG_NAME) if (root / CONFIG_NAME).is_file() else "the released sizes (no mige_config.json)"


def files_under(root: Path, *paths: Path) -> list[str]:
    """Every file among ``paths`` (folders recursively), relative to ``root``: what a load read."""
    found = {q for p in paths for q in (p.rglob("*") if p.is_dir() else [p]) if q.is_file()}
    return sorted(q.relative_to(root).as_posix() for q in found)


def check_tokenizer_readable(folder: Path) -> None:
    """Fail early when only ``spiece.model`` is there: transformers 5 needs protobuf to convert it.

    The released ``t5-v1_1-xxl/`` ships the sentencepiece model without a ``tokenizer.json``.
    """
    if (folder / "tokenizer.json").is_file() or not (folder / "spiece.model").is_file():
        return
    try:
        importlib.import_module("google.protobuf")
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading the T5 tokenizer {folder / 'spiece.model'} (there is no tokenizer.json beside it) needs the "
            "Python package 'protobuf' with transformers 5; install it with: pip install protobuf"
        ) from exc


def load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return load_pretrained(AutoTokenizer, str(folder), what="MIGE's T5 tokenizer")


def load_vae(folder: Path, *, safetensors_only: bool) -> Any:
    """The diffusers AutoencoderKL in ``folder``, float32, eval mode; ``safetensors_only`` never unpickles."""
    from diffusers import AutoencoderKL

    extra = {"use_safetensors": True} if safetensors_only else {}
    return load_pretrained(AutoencoderKL, str(folder), what="MIGE's VAE", torch_dtype=torch.float32, **extra).eval()
