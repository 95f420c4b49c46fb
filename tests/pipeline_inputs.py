"""Pipeline arguments compared by content: images become (mode, size, pixel bytes)."""

from __future__ import annotations

from PIL import Image


def comparable(value):
    """``value`` with every PIL image replaced by (mode, size, pixel bytes), lists and tuples as lists."""
    if isinstance(value, Image.Image):
        return (value.mode, value.size, value.tobytes())
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    return value
