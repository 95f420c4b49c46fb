"""Running a model here: optional imports, and the device and precision a model runs in.

Every module that needs torch, transformers or diffusers imports them through :func:`require` inside
the function that needs them, so importing mige-eval (``mige-eval list``, ``--help``) imports no model
code, and a missing optional package says which extra installs it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from mige_eval.errors import MissingDependencyError
from mige_eval.names import did_you_mean


def require(module: str, *, extra: str, purpose: str) -> Any:
    """Import an optional dependency or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed "
            f"({exc}). Install it with: pip install 'mige-eval[{extra}]'"
        ) from exc


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; anything else is checked and returned.

    Under a launcher that starts one process per GPU (``torchrun``, ``accelerate launch``: ``LOCAL_RANK``
    is set), ``auto`` and ``cuda`` mean this process's own GPU, ``cuda:<LOCAL_RANK>``, so the processes of
    a sharded run do not all land on the first GPU.
    """
    torch = require("torch", extra="metrics", purpose="running a model")
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        device = "cuda"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for, but torch sees no CUDA GPU; use --device cpu")
    if device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(
            f"unknown device {device!r}: use auto, cpu, cuda or cuda:N."
            f"{did_you_mean(device, ('auto', 'cpu', 'cuda', 'mps'))}"
        )
    if device == "cuda" and os.environ.get("LOCAL_RANK", "").isdigit():
        return f"cuda:{int(os.environ['LOCAL_RANK']) % max(1, torch.cuda.device_count())}"
    return device


DTYPES = ("fp32", "fp16", "bf16")


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` → fp16 on CUDA, fp32 elsewhere; fp16/bf16 are refused on the CPU, where they are slow or unsupported."""
    torch = require("torch", extra="metrics", purpose="running a model")
    if dtype == "auto":
        dtype = "fp16" if device.startswith("cuda") else "fp32"
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use auto, {', '.join(DTYPES)}.{did_you_mean(dtype, DTYPES)}")
    if dtype != "fp32" and not device.startswith("cuda"):
        raise ValueError(f"dtype {dtype} needs a CUDA device (got {device}); use dtype=fp32 on the CPU")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
