"""Processors of the Qwen-Image-Edit, LongCat-Image-Edit and FLUX.2 pipelines, with or without torchvision.

Under transformers 5 two processors these checkpoints ship cannot be built without torchvision:

- ``Qwen2VLProcessor`` (Qwen-Image-Edit, LongCat-Image-Edit): its video processor needs torchvision. The
  pipelines use only its tokenizer and image processor, and the image processor falls back to its PIL
  implementation by itself (``Qwen2VLImageProcessorPil``, transformers' own fallback).
  :func:`still_image_processor_class` is ``Qwen2VLProcessor`` without the video part, loaded from the same
  checkpoint folder;
- ``PixtralProcessor`` (FLUX.2 [dev]): its module imports torchvision. ``Flux2Pipeline`` uses it only to apply
  the chat template to text (images reach it only for prompt upsampling, which the adapter does not do), and for
  text a processor is its tokenizer. :func:`text_chat_processor_class` is that: a processor holding the
  checkpoint's tokenizer and chat template, loaded from the same folder.

With torchvision installed the checkpoints' own processors load and nothing here is used. PIL and torchvision
resize slightly differently, so Qwen2.5-VL sees marginally different pixels with and without torchvision; the
Qwen and LongCat adapters record which one ran as ``vision_preprocessing`` in their config.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from mige_eval.hub import load_pretrained


def has_torchvision() -> bool:
    """Whether torchvision is installed (checked without importing it)."""
    return importlib.util.find_spec("torchvision") is not None


def vision_preprocessing() -> str:
    """``torchvision`` or ``pil``: the image processor transformers will run for a vision-language text encoder."""
    return "torchvision" if has_torchvision() else "pil"


@functools.cache
def still_image_processor_class() -> type:
    """``Qwen2VLProcessor`` with a tokenizer and an image processor only (see the module docstring)."""
    from transformers import Qwen2VLProcessor

    class StillImageQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
        ) -> None:
            # a processor's parts are the modality arguments of its __init__: here two, no video processor
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    return StillImageQwen2VLProcessor


@functools.cache
def text_chat_processor_class() -> type:
    """A processor made of a tokenizer and a chat template (see the module docstring)."""
    from transformers import ProcessorMixin

    class TextChatProcessor(ProcessorMixin):
        def __init__(self, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any) -> None:
            super().__init__(tokenizer, chat_template=chat_template)

    return TextChatProcessor


def load_processor(processor_class: type, model_id: str, component: str, *, what: str, revision: str) -> Any:
    """``processor_class`` loaded from the checkpoint's ``component`` folder (a missing model names itself)."""
    return load_pretrained(processor_class, model_id, what=what, subfolder=component, revision=revision)


def qwen_vl_processor_kwargs(component: str, model_id: str, *, what: str, revision: str) -> dict[str, Any]:
    """``from_pretrained`` arguments supplying the Qwen2-VL processor ``component`` when torchvision is missing."""
    if has_torchvision():  # the checkpoint's own processor loads
        return {}
    return {component: load_processor(still_image_processor_class(), model_id, component, what=what, revision=revision)}
