"""A judge run locally with transformers: Qwen2.5-VL or Qwen3-VL (Qwen2-VL too), greedy and batched.

The model is a hub id (``id@revision``) or a local folder, found like the CLIP and DINO backbones
(Hugging Face cache, ``HF_HUB_OFFLINE``; a folder's revision is a digest of its config and weights);
its files are checked before any weights load. Prompts are rendered with the checkpoint's own chat
template; images go through the checkpoint's image processor on its PIL backend (the resize rule that
``qwen_vl_utils`` applies in GEdit-Bench's script: sides rounded to the patch grid within the
processor's pixel bounds, bicubic), so no torchvision is needed. Decoding is greedy (``do_sample``
off, one beam, at most ``--judge-max-tokens`` new tokens) with the checkpoint's repetition penalty,
which GEdit-Bench's call leaves in force. Conversations go through ``generate`` ``batch_size`` at a
time, left-padded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from mige_eval.errors import MissingWeightsError
from mige_eval.hub import is_local
from mige_eval.metrics.checkpoint import Checkpoint
from mige_eval.metrics.judge import DEFAULT_JUDGE
from mige_eval.metrics.judge_prompts import Conversation, PreparedImage
from mige_eval.runtime import require, resolve_dtype

#: ``config.json`` model types the local judge knows how to prompt.
MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")


class LocalJudge(Checkpoint):
    """One vision-language checkpoint on one device; weights load on the first :meth:`answer`.

    Its precision is chosen from the checkpoint (``--judge-dtype auto``: its own half precision on CUDA,
    fp32 on the CPU) once the config is read.
    """

    kind = "local"
    role = "judge"
    model_types = MODEL_TYPES
    example = DEFAULT_JUDGE
    needed_by = "the judge metrics"
    companions = "tokenizer, image processor and chat template"
    otherwise = ", or use --judge-url for any model behind an OpenAI-compatible server"

    def __init__(
        self, model: str, *, device: str = "auto", dtype: str = "auto", batch_size: int = 8, max_new_tokens: int = 512
    ):
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(
                f"judge batch size and max new tokens must be at least 1, got {batch_size}, {max_new_tokens}"
            )
        super().__init__(model, device, precision="fp32" if dtype == "auto" else dtype)
        self.requested_dtype, self.batch_size, self.max_new_tokens = dtype, batch_size, max_new_tokens
        self.repetition_penalty = 1.0
        self._parts: tuple[Any, Any, Any, str] | None = None

    def fetch_hint(self) -> str:
        return f"`hf download {self.model_id}`"

    def check(self, config: Any) -> None:
        """Precision from the checkpoint under ``auto``; the repetition penalty its generation config sets."""
        if self.requested_dtype == "auto" and self.device.startswith("cuda"):
            named = str(getattr(config, "dtype", None) or "").replace("torch.", "")
            self.precision = {"float16": "fp16", "bfloat16": "bf16"}.get(named, "bf16")
            self.dtype = resolve_dtype(self.precision, self.device)
        generation = self.folder / "generation_config.json"
        if generation.is_file():
            self.repetition_penalty = float(json.loads(generation.read_text()).get("repetition_penalty") or 1.0)

    def identity(self) -> dict[str, Any]:
        """What the answers depend on: checkpoint (id or ``local``) and revision, precision, decoding."""
        self.prepare()
        return {
            "kind": self.kind,
            "model": "local" if is_local(self.model_id) else self.model_id,
            "revision": self.revision,
            "dtype": self.precision,
            "decoding": {
                "do_sample": False,
                "num_beams": 1,
                "max_new_tokens": self.max_new_tokens,
                "repetition_penalty": self.repetition_penalty,
            },
        }

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "path": str(self.folder), "device": self.device}

    def _load_all(self) -> tuple[Any, Any, Any, str]:
        """(model, tokenizer, image processor, chat template), built once."""
        if self._parts is None:
            self.prepare()
            torch = require("torch", extra="metrics", purpose="the local judge")
            tokenizer = self._load("AutoTokenizer")
            tokenizer.padding_side = "left"
            processor = self._load("AutoImageProcessor", backend="pil")
            template = self._chat_template(tokenizer)
            kwargs: dict[str, Any] = {"dtype": self.dtype}
            if self.device == "cuda" and torch.cuda.device_count() > 1:
                require("accelerate", extra="judges", purpose="spreading the judge over several GPUs")
                kwargs["device_map"] = "auto"
            model = self._load("AutoModelForImageTextToText", **kwargs)
            if "device_map" not in kwargs:
                model = model.to(self.device)
            self._parts = (model.eval(), tokenizer, processor, template)
        return self._parts

    def _chat_template(self, tokenizer: Any) -> str:
        """The processor's template (``chat_template.jinja`` / ``.json``), else the tokenizer's."""
        jinja, js = self.folder / "chat_template.jinja", self.folder / "chat_template.json"
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8")
        if js.is_file():
            return json.loads(js.read_text(encoding="utf-8"))["chat_template"]
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.chat_template
        raise MissingWeightsError(
            f"{self.what}: {self.folder} has no chat template (chat_template.jinja, "
            "chat_template.json or tokenizer_config.json); it is not an instruct checkpoint"
        )

    def answer(
        self, conversations: Sequence[Conversation], on_answer: Callable[[int, str], None], detail: str | None = None
    ) -> list[str]:
        """Greedy answers in order, ``batch_size`` conversations per ``generate`` call."""
        answers: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start : start + self.batch_size]
            for offset, text in enumerate(self._generate(batch)):
                answers.append(text)
                on_answer(start + offset, text)
        return answers

    def _generate(self, batch: Sequence[Conversation]) -> list[str]:
        torch = require("torch", extra="metrics", purpose="the local judge")
        model, tokenizer = self._load_all()[:2]
        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in self.inputs(batch).items()}
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                do_sample=False,
                num_beams=1,
                max_new_tokens=self.max_new_tokens,
                repetition_penalty=self.repetition_penalty,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        return tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)

    def inputs(self, batch: Sequence[Conversation]) -> dict[str, Any]:
        """Model inputs of a batch: left-padded token ids with each image's tokens, pixel values, patch grids."""
        _, tokenizer, processor, template = self._load_all()
        image_token = tokenizer.convert_ids_to_tokens(self.config.image_token_id)
        texts, images = [], []
        for conversation in batch:
            messages = [
                {
                    "role": role,
                    "content": [
                        {"type": "image"} if isinstance(item, PreparedImage) else {"type": "text", "text": item}
                        for item in items
                    ],
                }
                for role, items in conversation
            ]
            shown = [item.pixels for _, items in conversation for item in items if isinstance(item, PreparedImage)]
            text = tokenizer.apply_chat_template(
                messages, chat_template=template, tokenize=False, add_generation_prompt=True
            )
            if text.count(image_token) != len(shown):
                raise RuntimeError(
                    f"{self.what}: its chat template placed {text.count(image_token)} image tokens for "
                    f"{len(shown)} images; it is not a Qwen-VL style template"
                )
            texts.append(text)
            images.extend(shown)
        vision = processor(images=images, return_tensors="pt") if images else {}
        texts = self._expand_image_tokens(texts, image_token, vision.get("image_grid_thw"), processor.merge_size)
        inputs = dict(tokenizer(texts, padding=True, return_tensors="pt"))
        inputs.update({k: v for k, v in vision.items() if k in ("pixel_values", "image_grid_thw")})
        return inputs

    @staticmethod
    def _expand_image_tokens(texts: list[str], image_token: str, grids: Any, merge_size: int) -> list[str]:
        """Each image's one placeholder token → as many as its merged patches (what the Qwen-VL processors do)."""
        if grids is None:
            return texts
        counts = iter(int(n) // merge_size**2 for n in grids.prod(-1))
        expanded = []
        for text in texts:
            pieces = text.split(image_token)
            expanded.append(pieces[0] + "".join(image_token * next(counts) + rest for rest in pieces[1:]))
        return expanded

    def close(self) -> None:
        self._parts = None
