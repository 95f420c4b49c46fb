"""GroundingDINO and SAM through transformers: where their files come from, and one batched forward pass each.

Why transformers' ports and not ``groundingdino-py`` / ``segment-anything``: they are maintained, load
safetensors, need no compiled CUDA extension and share the hub cache and offline rules of the other
backbones (docs/subject.md lists what differs from the original code). Both models are
:class:`ScoringContext` services, built only when a subject metric is requested; like the CLIP and
DINO backbones they are :class:`~mige_eval.metrics.checkpoint.Checkpoint` subclasses: the kind is checked
before any sample, and the weights load on the first forward pass, so a rerun whose crops are all cached
never loads them.

Both wrappers return raw model outputs; what is done with them (box choice, crop) is the pure logic
of :mod:`mige_eval.metrics.crops`, which takes any object with the same ``detect`` / ``segment``.

- :meth:`GroundingDino.detect` batches images of the same size only: the processor pads a batch to
  its largest image, and padding changes the backbone's features; padding the prompts moves the
  logits only at float rounding (~1e-6).
- :meth:`Sam.segment` batches freely (SAM pads every image to the same square) and computes each
  image's embedding once, then decodes its single box prompt from that embedding.

The image processors are the Pillow ("pil") backend classes, whatever else is installed: it resizes
with Pillow's bilinear filter as the original code did, and keeps results independent of torchvision.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mige_eval.metrics.checkpoint import Checkpoint, fetch, split_revision
from mige_eval.presets import BACKBONE_IDS
from mige_eval.runtime import require

if TYPE_CHECKING:
    from PIL import Image

    from mige_eval.metrics.base import ScoringContext

SAM_ID = "facebook/sam-vit-huge"
#: Images passed through each model's forward pass in this process (``detector``, ``sam``).
FORWARDS: Counter[str] = Counter()


class SubjectModel(Checkpoint):
    """A GroundingDINO or SAM checkpoint; images go through its forward pass ``batch_size`` at a time."""

    needed_by = "subject crops"
    download_command = "mige-eval download --backbones --grounding"
    companions = "processor"
    #: The transformers class that loads the weights.
    model_class: ClassVar[str]

    def __init__(self, model: str, device: str = "auto", precision: str = "fp32", batch_size: int = 16):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        super().__init__(model, device, precision)
        self.batch_size = batch_size
        self._processor: Any = None

    def pil_image_processor(self, name: str) -> Any:
        """The Pillow-backend image processor: ``<name>Pil`` since transformers' backend refactor, ``<name>``
        (Pillow-based then) before it."""
        transformers = require("transformers", extra="metrics", purpose="the subject metrics")
        return self._load(f"{name}Pil" if hasattr(transformers, f"{name}Pil") else name)

    def model(self) -> Any:
        if self._model is None:
            model = self.prepare()._load(self.model_class, dtype=self.dtype)
            self._model = model.to(self.device).eval()
        return self._model


class GroundingDino(SubjectModel):
    """GroundingDINO: per image, the box score (max token probability) and normalised cxcywh box of every query."""

    role = "detector"
    model_types = ("grounding-dino",)
    example = BACKBONE_IDS["gdino-base"]
    model_class = "GroundingDinoForObjectDetection"

    def processor(self) -> Any:
        if self._processor is None:
            transformers = require("transformers", extra="metrics", purpose="the subject metrics")
            self.prepare()
            images = self.pil_image_processor("GroundingDinoImageProcessor")
            self._processor = transformers.GroundingDinoProcessor(
                image_processor=images, tokenizer=self._load("AutoTokenizer")
            )
        return self._processor

    def detect(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scores (Q,) and boxes (Q×4, normalised cx, cy, w, h) per image, for its prompt."""
        torch = require("torch", extra="metrics", purpose="the subject metrics")
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, img in enumerate(images):
            by_size[img.size].append(i)
        results: list[Any] = [None] * len(images)
        for group in by_size.values():
            for start in range(0, len(group), self.batch_size):
                batch = group[start : start + self.batch_size]
                inputs = self.processor()(
                    images=[images[i] for i in batch],
                    text=[prompts[i] for i in batch],
                    padding="longest",
                    return_tensors="pt",
                )
                inputs = {
                    k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
                    for k, v in inputs.items()
                }
                with torch.inference_mode():
                    out = self.model()(**inputs)
                scores = out.logits.float().sigmoid().amax(dim=-1).cpu().numpy()
                boxes = out.pred_boxes.float().cpu().numpy()
                FORWARDS["detector"] += len(batch)
                for row, i in enumerate(batch):
                    results[i] = (scores[row], boxes[row])
        return results


class Sam(SubjectModel):
    """SAM: one boolean mask per image, at the image's resolution, for one pixel xyxy box prompt."""

    role = "sam"
    model_types = ("sam",)
    example = SAM_ID
    model_class = "SamModel"

    def processor(self) -> Any:
        if self._processor is None:
            transformers = require("transformers", extra="metrics", purpose="the subject metrics")
            self._processor = transformers.SamProcessor(
                image_processor=self.prepare().pil_image_processor("SamImageProcessor")
            )
        return self._processor

    def segment(self, images: Sequence[Image.Image], boxes: Sequence[Sequence[float]]) -> list[np.ndarray]:
        """Mask logits > 0 after SAM's upscaling to each image's size (``multimask_output=False``)."""
        torch = require("torch", extra="metrics", purpose="the subject metrics")
        masks: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start : start + self.batch_size])
            prompts = [[[float(v) for v in box]] for box in boxes[start : start + self.batch_size]]
            inputs = self.processor()(images=chunk, input_boxes=prompts, return_tensors="pt")
            model = self.model()
            with torch.inference_mode():
                embeddings = model.get_image_embeddings(inputs["pixel_values"].to(self.device, self.dtype))
                out = model(
                    image_embeddings=embeddings,
                    multimask_output=False,
                    input_boxes=inputs["input_boxes"].to(self.device, self.dtype),
                )
            FORWARDS["sam"] += len(chunk)
            upscaled = self.processor().image_processor.post_process_masks(
                out.pred_masks.float().cpu(),
                inputs["original_sizes"],
                inputs["reshaped_input_sizes"],
                mask_threshold=0.0,
                binarize=True,
            )
            masks.extend(m[0, 0].numpy() for m in upscaled)
        return masks


def detector_for(ctx: ScoringContext) -> GroundingDino:
    """The run's detector: ``--detector-model``, else the ``detector`` preset's id; built once per run."""
    model = ctx.options.detector_model or BACKBONE_IDS[ctx.presets["detector"]]
    return ctx.service(
        "backbone:detector",
        lambda: GroundingDino(model, ctx.options.device, ctx.presets["precision"], ctx.options.batch_size),
    )


def sam_for(ctx: ScoringContext) -> Sam:
    """The run's segmenter: ``--sam-model``, else SAM ViT-H; built once per run."""
    model = ctx.options.sam_model or SAM_ID
    return ctx.service(
        "backbone:sam", lambda: Sam(model, ctx.options.device, ctx.presets["precision"], ctx.options.batch_size)
    )


def download_grounding(ids: Sequence[str] = ()) -> list[Path]:
    """Fetch GroundingDINO Swin-B and SAM ViT-H (or ``ids``) into the Hugging Face cache for offline use."""
    return [
        fetch(*split_revision(model), what="subject-crop model")
        for model in (list(ids) or [BACKBONE_IDS["gdino-base"], SAM_ID])
    ]
