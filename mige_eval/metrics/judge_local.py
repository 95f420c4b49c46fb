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
from pathlib import Path
from typing import Any, Callable, Sequence

from mige_eval.adapters.common import (hub_offline, is_local, load_pretrained, require, resolve_device, resolve_dtype,
                                       weights_hint)
from mige_eval.errors import MissingWeightsError
from mige_eval.metrics.backbones import fetch, split_revision, weights_digest
from mige_eval.metrics.judge_prompts import Conversation, PreparedImage

#: ``config.json`` model types the local judge knows how to prompt.
MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")


class LocalJudge:
    """One vision-language checkpoint on one device; weights load on the first :meth:`answer`."""

    kind = "local"

    def __init__(self, model: str, *, device: str = "auto", dtype: str = "auto", batch_size: int = 8,
                 max_new_tokens: int = 512):
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"judge batch size and max new tokens must be at least 1, got {batch_size}, {max_new_tokens}")
        self.max_new_tokens = max_new_tokens
        self.model_id, self.requested_revision = split_revision(model)
        self.requested_device, self.requested_dtype, self.batch_size = device, dtype, batch_size
        self.device: str | None = None
        self.folder: Path | None = None
        self.revision: str | None = None
        self.config: Any = None
        self.dtype: str | None = None
        self.repetition_penalty = 1.0
        self._parts: tuple[Any, Any, Any, str] | None = None

    @property
    def what(self) -> str:
        return f"--judge-model {self.model_id}"

    def prepare(self) -> LocalJudge:
        """Locate the files, check the checkpoint's kind and resolve device and precision; no weights load."""
        if self.config is not None:
            return self
        self.device = resolve_device(self.requested_device)
        if is_local(self.model_id):
            self.folder = Path(self.model_id).expanduser()
            if not (self.folder / "config.json").is_file():
                raise MissingWeightsError(f"{self.what}: {self.folder} is not a model folder (no config.json)")
            self.revision = "sha256:" + weights_digest(self.folder)
        else:
            try:
                self.folder = fetch(self.model_id, self.requested_revision, offline=hub_offline())
            except MissingWeightsError as exc:
                raise MissingWeightsError(f"{weights_hint(self.model_id, what='judge model')} ({exc.__cause__})") from exc
            self.revision = self.folder.name
        transformers = require("transformers", extra="metrics", purpose="the local judge")
        config = self._load(transformers.AutoConfig)
        if config.model_type not in MODEL_TYPES:
            raise MissingWeightsError(f"{self.what} is a {config.model_type!r} checkpoint; the local judge runs "
                                      f"{', '.join(MODEL_TYPES)} models (e.g. Qwen/Qwen2.5-VL-7B-Instruct), or use "
                                      "--judge-url for any model behind an OpenAI-compatible server")
        self.dtype = self._dtype(config)
        generation = self.folder / "generation_config.json"
        if generation.is_file():
            self.repetition_penalty = float(json.loads(generation.read_text()).get("repetition_penalty") or 1.0)
        self.config = config
        return self

    def _dtype(self, config: Any) -> str:
        """``auto``: the checkpoint's half precision on CUDA (bf16 if it names none), fp32 on the CPU."""
        if self.requested_dtype != "auto":
            resolve_dtype(self.requested_dtype, self.device)  # refuses half precision off CUDA
            return self.requested_dtype
        if not self.device.startswith("cuda"):
            return "fp32"
        named = str(getattr(config, "dtype", None) or "").replace("torch.", "")
        return {"float16": "fp16", "bfloat16": "bf16"}.get(named, "bf16")

    def identity(self) -> dict[str, Any]:
        """What the answers depend on: checkpoint (id or ``local``) and revision, precision, decoding."""
        self.prepare()
        return {"kind": self.kind, "model": "local" if is_local(self.model_id) else self.model_id,
                "revision": self.revision, "dtype": self.dtype,
                "decoding": {"do_sample": False, "num_beams": 1, "max_new_tokens": self.max_new_tokens,
                             "repetition_penalty": self.repetition_penalty}}

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "path": str(self.folder), "device": self.device}

    def _load(self, loader: Any, **kwargs: Any) -> Any:
        try:
            return load_pretrained(loader, str(self.folder), what=self.what, **kwargs)
        except MissingWeightsError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint is the same error for every sample
            raise MissingWeightsError(f"{self.what}: cannot load {self.folder} ({type(exc).__name__}: {exc}); "
                                      "re-download it or pass another model") from exc

    def _load_all(self) -> tuple[Any, Any, Any, str]:
        """(model, tokenizer, image processor, chat template), built once."""
        if self._parts is None:
            self.prepare()
            torch = require("torch", extra="metrics", purpose="the local judge")
            transformers = require("transformers", extra="metrics", purpose="the local judge")
            tokenizer = self._load(transformers.AutoTokenizer)
            tokenizer.padding_side = "left"
            processor = self._load(transformers.AutoImageProcessor, backend="pil")
            template = self._chat_template(tokenizer)
            dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.dtype]
            kwargs: dict[str, Any] = {"dtype": dtype}
            if self.device == "cuda" and torch.cuda.device_count() > 1:
                require("accelerate", extra="judges", purpose="spreading the judge over several GPUs")
                kwargs["device_map"] = "auto"
            model = self._load(transformers.AutoModelForImageTextToText, **kwargs)
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
        raise MissingWeightsError(f"{self.what}: {self.folder} has no chat template (chat_template.jinja, "
                                  "chat_template.json or tokenizer_config.json); it is not an instruct checkpoint")

    def answer(self, conversations: Sequence[Conversation], on_answer: Callable[[int, str], None],
               detail: str | None = None) -> list[str]:
        """Greedy answers in order, ``batch_size`` conversations per ``generate`` call."""
        answers: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            batch = conversations[start:start + self.batch_size]
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
            out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens,
                                 repetition_penalty=self.repetition_penalty, temperature=None, top_p=None, top_k=None)
        return tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def inputs(self, batch: Sequence[Conversation]) -> dict[str, Any]:
        """Model inputs of a batch: left-padded token ids with each image's tokens, pixel values, patch grids."""
        _, tokenizer, processor, template = self._load_all()
        image_token = tokenizer.convert_ids_to_tokens(self.config.image_token_id)
        texts, images = [], []
        for conversation in batch:
            messages = [{"role": role, "content": [{"type": "image"} if isinstance(item, PreparedImage)
                                                   else {"type": "text", "text": item} for item in items]}
                        for role, items in conversation]
            shown = [item.pixels for _, items in conversation for item in items if isinstance(item, PreparedImage)]
            text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                 add_generation_prompt=True)
            if text.count(image_token) != len(shown):
                raise RuntimeError(f"{self.what}: its chat template placed {text.count(image_token)} image tokens for "
                                   f"{len(shown)} images; it is not a Qwen-VL style template")
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
        counts = iter(int(n) // merge_size ** 2 for n in grids.prod(-1))
        expanded = []
        for text in texts:
            pieces = text.split(image_token)
            expanded.append(pieces[0] + "".join(image_token * next(counts) + rest for rest in pieces[1:]))
        return expanded

    def close(self) -> None:
        self._parts = None
