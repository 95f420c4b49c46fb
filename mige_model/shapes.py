"""The one input check the token-mixing modules share: a batch of token sequences of a given width."""

from __future__ import annotations

import torch


def require_tokens(tensor: torch.Tensor, width: int, *, name: str, axis: str, hint: str) -> None:
    """Refuse anything but a (batch, ``axis``, ``width``) tensor, naming it and saying what to pass."""
    if tensor.ndim != 3 or tensor.shape[-1] != width:
        raise ValueError(f"{name} must have shape (batch, {axis}, {width}), got {tuple(tensor.shape)}; {hint}")
