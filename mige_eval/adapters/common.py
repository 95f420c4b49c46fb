"""Small helpers every adapter needs: optional imports, device and dtype choice, weight locations."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Sequence

from mige_eval.errors import MissingDependencyError, MissingWeightsError


def require(module: str, *, extra: str, purpose: str) -> Any:
    """Import an optional dependency or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed "
            f"({exc}). Install it with: pip install 'mige-eval[{extra}]'"
        ) from exc


# Checks of adapter options (``--model-arg key=value`` arrives typed): each returns the value or says
# which option is wrong and what it takes.
def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def non_negative_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; anything else is checked and returned."""
    torch = require("torch", extra="metrics", purpose="running a model")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for, but torch sees no CUDA GPU; use --device cpu")
    if device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
    return device


DTYPES = ("fp32", "fp16", "bf16")


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` → fp16 on CUDA, fp32 elsewhere; fp16/bf16 are refused on the CPU, where they are slow or unsupported."""
    torch = require("torch", extra="metrics", purpose="running a model")
    if dtype == "auto":
        dtype = "fp16" if device.startswith("cuda") else "fp32"
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use auto, {', '.join(DTYPES)}")
    if dtype != "fp32" and not device.startswith("cuda"):
        raise ValueError(f"dtype {dtype} needs a CUDA device (got {device}); use dtype=fp32 on the CPU")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_local(model_id: str | os.PathLike) -> bool:
    """A model id that names an existing directory (or looks like a path) is local, never fetched."""
    text = str(model_id)
    return Path(text).expanduser().exists() or text.startswith((".", "/", "~"))


def weights_hint(model_id: str, *, what: str) -> str:
    """The sentence every missing-weights error ends with: where to get the files."""
    return (
        f"{what} {model_id!r} is not available locally"
        + (" and HF_HUB_OFFLINE is set" if hub_offline() else "")
        + f". Fetch it on a machine with network access with `hf download {model_id}` "
        "(it lands in the Hugging Face cache; copy ~/.cache/huggingface or set HF_HOME), or pass a "
        "local directory holding its files instead of the id."
    )


def load_pretrained(loader: Any, model_id: str, *, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(model_id, **kwargs)``, turning "not found / offline" into a clear error.

    A local directory is loaded as is; a hub id goes through the Hugging Face cache (and the network
    unless ``HF_HUB_OFFLINE=1``). Either way a missing model raises :class:`MissingWeightsError`
    naming it and the command that fetches it.
    """
    if is_local(model_id):
        path = Path(str(model_id)).expanduser()
        if not path.is_dir():
            raise MissingWeightsError(f"{what}: local model directory {path} does not exist")
        model_id = str(path)
    try:
        return loader.from_pretrained(model_id, **kwargs)
    except (OSError, ValueError) as exc:
        text = str(exc)
        missing = any(
            marker in text
            for marker in ("does not appear to have", "not a local folder", "Can't load", "offline",
                           "not found", "couldn't connect", "Cannot find", "is not a valid model identifier",
                           "No such file", "does not exist", "outgoing traffic has been disabled")
        )
        if not missing:
            raise
        if is_local(model_id):
            raise MissingWeightsError(f"{what}: {model_id} is not a complete model directory ({exc})") from exc
        raise MissingWeightsError(weights_hint(model_id, what=what) + f" (loader said: {exc})") from exc
