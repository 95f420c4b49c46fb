"""Where T5 lives during a run: ``offload_text_encoder=auto`` decides from the device's memory.

T5 v1.1 XXL's encoder is three quarters of MIGE's weights (4.8 B of 6.5 B parameters, 9.5 GB in bf16) and
is needed only to encode instructions. Offloading keeps it on the CPU and moves it to the GPU once per
chunk of samples; that costs two host-device copies of its weights per chunk and saves its memory while
sampling. On a card that holds the whole model with room to sample, keeping it resident is free.

The rule (:func:`keep_text_encoder_resident`) is a pure function of memory figures, so it can be checked
without a GPU: T5 stays on the device when every weight (T5, the MIGE module, the float32 VAE) plus
:data:`WORKING_MEMORY` fits in :data:`USABLE_FRACTION` of the device's total memory.
"""

from __future__ import annotations

import torch
from torch import nn

GIB = 1024**3
#: Activations while sampling and decoding (DiT batch of up to 3×25 sequences of 1,024 tokens, the float32
#: VAE decoder at 512²) and the allocator's slack, on top of the weights.
WORKING_MEMORY = 4 * GIB
#: The share of a device's memory the rule lets the weights and working memory take (the rest is left
#: to the CUDA context, other processes and fragmentation).
USABLE_FRACTION = 0.9


def keep_text_encoder_resident(total_memory: int, *, text_encoder_bytes: int, other_bytes: int) -> bool:
    """True when T5 (``text_encoder_bytes``) and every other weight (``other_bytes``) plus the working
    memory fit in :data:`USABLE_FRACTION` of ``total_memory`` (all in bytes)."""
    for name, value in (
        ("total_memory", total_memory),
        ("text_encoder_bytes", text_encoder_bytes),
        ("other_bytes", other_bytes),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a number of bytes (an int >= 0), got {value!r}")
    return text_encoder_bytes + other_bytes + WORKING_MEMORY <= USABLE_FRACTION * total_memory


def weight_bytes(module: nn.Module, dtype: torch.dtype) -> int:
    """Bytes of ``module``'s parameters and buffers once cast to ``dtype`` (floating tensors only)."""
    size = torch.empty((), dtype=dtype).element_size()
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * (size if t.is_floating_point() else t.element_size()) for t in tensors)


def resolve_offload(option: bool | str, device: torch.device, *, text_encoder_bytes: int, other_bytes: int) -> bool:
    """The ``offload_text_encoder`` option made a decision: never on a CPU device; ``auto`` by the rule."""
    if not (option == "auto" or isinstance(option, bool)):
        raise ValueError(f"offload_text_encoder must be auto, true or false, got {option!r}")
    if device.type != "cuda":
        return False
    if option != "auto":
        return bool(option)
    total = torch.cuda.get_device_properties(device).total_memory
    return not keep_text_encoder_resident(total, text_encoder_bytes=text_encoder_bytes, other_bytes=other_bytes)
