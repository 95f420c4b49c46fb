"""mige-eval: benchmarks for multimodal instruction-based image generation and editing."""

from __future__ import annotations

__version__ = "0.1.0"
