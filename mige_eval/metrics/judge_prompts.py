"""The judge prompts (package data with a version) and how each is shown to a judge.

A prompt's texts live in ``judge_prompts/<id>.txt``: ``#`` comment lines naming the repository, path,
commit and licence they come from, an ``id:`` and a ``version:`` field, then each text after a line
``=== <part>`` (``user``, ``assistant``). A text runs to the newline before the next marker; the file's
final newline ends the last text, so a text that itself ends with a newline is followed by an empty line.

What a judge sees besides the texts — the messages, which images in which order, how each image is
resized and encoded — is fixed here per prompt id, as the published evaluation code does it:

- ``vie_sc`` / ``vie_pq`` (GEdit-Bench's Qwen2.5-VL path): one user message, images first, then the
  text; the source as decoded, the output resized to the source's size (Pillow bicubic), both PNG
  (lossless, so a local judge gets the very pixels);
- ``dbp_cp`` / ``dbp_pf`` (DreamBench++): the task text as a user turn, the acknowledgement as an
  assistant turn, then the sample; every image squashed to 512x512 (bicubic) and JPEG-encoded at
  Pillow's default quality, as ``encode_image_into_base64`` does, with ``detail: high``.

:meth:`JudgePrompt.fingerprint` covers the texts, the layout and the preparation; the tests pin one
fingerprint per (id, version), so nothing a judge sees can change without a new version, and answers
cached under the old version are never reused for the new one.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources

from PIL import Image

from mige_eval.images import pixels_hash, to_rgb

PROMPT_IDS = ("vie_sc", "vie_pq", "dbp_cp", "dbp_pf")
DBP_SIZE = (512, 512)


class PromptFileError(ValueError):
    """A prompt file of the package that does not follow the format (a broken installation or edit)."""


@dataclass(frozen=True)
class PreparedImage:
    """An image as a judge receives it: :attr:`data` (:attr:`mime`) goes to a server, ``pixels`` to a local model.

    ``key`` identifies what the judge decodes (encoding and pixel hash); answers are cached under it.
    ``encoded`` holds the JPEG bytes the pixels were decoded from; PNG bytes are made only when sent.
    """

    pixels: Image.Image
    encoding: str
    key: str
    encoded: bytes | None = None

    @property
    def mime(self) -> str:
        return f"image/{self.encoding}"

    @cached_property
    def data(self) -> bytes:
        if self.encoded is not None:
            return self.encoded
        buf = io.BytesIO()
        self.pixels.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def encode_for_judge(img: Image.Image, encoding: str) -> PreparedImage:
    """PNG (lossless) or JPEG at Pillow's default quality, decoded back so both backends see the same pixels."""
    img = to_rgb(img, "an image for the judge")
    if encoding == "png":
        return PreparedImage(img, "png", f"png:{pixels_hash(img)}")
    if encoding != "jpeg":
        raise ValueError(f"unknown judge image encoding {encoding!r}: use png or jpeg")
    buf = io.BytesIO()
    img.save(buf, format="JPEG")  # quality 75, 4:2:0, as DreamBench++'s encode_image_into_base64
    pixels = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return PreparedImage(pixels, "jpeg", f"jpeg:{pixels_hash(pixels)}", buf.getvalue())


def prepare_gedit(source: Image.Image, output: Image.Image) -> dict[str, PreparedImage]:
    """GEdit-Bench: the output resized to the source's size (bicubic), both shown losslessly."""
    source = to_rgb(source, "the source image")
    output = to_rgb(output, "the output image").resize(source.size, Image.Resampling.BICUBIC)
    return {"source": encode_for_judge(source, "png"), "output": encode_for_judge(output, "png")}


def prepare_dreambench_plus(img: Image.Image) -> PreparedImage:
    """DreamBench++: an image squashed to 512x512 (bicubic) and JPEG-encoded."""
    return encode_for_judge(to_rgb(img, "an image for the judge").resize(DBP_SIZE, Image.Resampling.BICUBIC), "jpeg")


@dataclass(frozen=True)
class Part:
    """One item of a message: a text of the prompt file (``text``, with ``fill`` placeholders replaced by
    sample values), a sample value on its own (``value``), or an image slot (``image``)."""

    kind: str
    name: str
    fill: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Message:
    role: str
    parts: tuple[Part, ...]


#: Rendered conversation: (role, items) per message, each item a text or a prepared image.
Conversation = tuple[tuple[str, tuple["str | PreparedImage", ...]], ...]

_TEXT, _VALUE, _IMAGE = "text", "value", "image"
LAYOUTS: dict[str, tuple[Message, ...]] = {
    "vie_sc": (
        Message(
            "user",
            (Part(_IMAGE, "source"), Part(_IMAGE, "output"), Part(_TEXT, "user", (("<instruction>", "instruction"),))),
        ),
    ),
    "vie_pq": (Message("user", (Part(_IMAGE, "output"), Part(_TEXT, "user"))),),
    "dbp_cp": (
        Message("user", (Part(_TEXT, "user"),)),
        Message("assistant", (Part(_TEXT, "assistant"),)),
        Message("user", (Part(_IMAGE, "reference"), Part(_IMAGE, "output"))),
    ),
    "dbp_pf": (
        Message("user", (Part(_TEXT, "user"),)),
        Message("assistant", (Part(_TEXT, "assistant"),)),
        Message("user", (Part(_VALUE, "prompt"), Part(_IMAGE, "output"))),
    ),
}
#: How each prompt's images are prepared (the name enters the fingerprint) and the detail a server is asked for.
PREPARATION = {"vie_sc": "gedit", "vie_pq": "gedit", "dbp_cp": "dreambench++", "dbp_pf": "dreambench++"}
DETAIL = {"dbp_cp": "high", "dbp_pf": "high"}


@dataclass(frozen=True)
class JudgePrompt:
    id: str
    version: int
    texts: Mapping[str, str]
    layout: tuple[Message, ...]
    preparation: str
    detail: str | None = None

    @property
    def label(self) -> str:
        """``id@vN``: what settings, caches and judgement records name the prompt by."""
        return f"{self.id}@v{self.version}"

    @property
    def image_slots(self) -> tuple[str, ...]:
        return tuple(p.name for m in self.layout for p in m.parts if p.kind == _IMAGE)

    def fingerprint(self) -> str:
        """sha256 over everything the judge sees besides the sample: texts, layout, preparation, detail."""
        layout = [[m.role, [[p.kind, p.name, [list(f) for f in p.fill]] for p in m.parts]] for m in self.layout]
        payload = {
            "texts": dict(sorted(self.texts.items())),
            "layout": layout,
            "preparation": self.preparation,
            "detail": self.detail,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def render(self, images: Mapping[str, PreparedImage], values: Mapping[str, str]) -> Conversation:
        """The conversation for one sample: prepared images by slot, sample texts by name."""
        missing = [s for s in self.image_slots if s not in images]
        if missing:
            raise ValueError(f"prompt {self.label} needs the image(s) {', '.join(missing)}")
        messages = []
        for message in self.layout:
            items: list[str | PreparedImage] = []
            for part in message.parts:
                if part.kind == _IMAGE:
                    items.append(images[part.name])
                elif part.kind == _VALUE:
                    items.append(values[part.name])
                else:
                    text = self.texts[part.name]
                    for placeholder, name in part.fill:
                        text = text.replace(placeholder, values[name])
                    items.append(text)
            messages.append((message.role, tuple(items)))
        return tuple(messages)


def parse_prompt_file(text: str, label: str) -> tuple[dict[str, str], dict[str, str]]:
    """(header fields, texts by part) of a prompt file, by the format in the module docstring."""
    head, marker, _ = text.partition("\n=== ")
    if not marker:
        raise PromptFileError(f"{label}: no '=== <part>' line")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        if line.strip() and not line.startswith("#"):
            key, sep, value = line.partition(":")
            if not sep:
                raise PromptFileError(f"{label}: header line {line!r} is neither a comment nor 'key: value'")
            fields[key.strip()] = value.strip()
    body = text[len(head) + 1 :]
    if not body.endswith("\n"):
        raise PromptFileError(f"{label}: the file must end with a newline")
    texts: dict[str, str] = {}
    for chunk in ("\n" + body[:-1]).split("\n=== ")[1:]:
        name, _, content = chunk.partition("\n")
        if name in texts:
            raise PromptFileError(f"{label}: part {name!r} appears twice")
        texts[name] = content
    return fields, texts


@cache
def load_prompt(prompt_id: str) -> JudgePrompt:
    """The packaged prompt ``prompt_id`` with its layout; a malformed file raises :class:`PromptFileError`."""
    if prompt_id not in LAYOUTS:
        raise ValueError(f"unknown judge prompt {prompt_id!r}: use {', '.join(PROMPT_IDS)}")
    label = f"judge_prompts/{prompt_id}.txt"
    text = resources.files("mige_eval.metrics").joinpath(label).read_text(encoding="utf-8")
    fields, texts = parse_prompt_file(text, label)
    if fields.get("id") != prompt_id or not fields.get("version", "").isdigit():
        raise PromptFileError(f"{label}: expected 'id: {prompt_id}' and an integer 'version:' in the header")
    wanted = sorted({p.name for m in LAYOUTS[prompt_id] for p in m.parts if p.kind == _TEXT})
    if sorted(texts) != wanted:
        raise PromptFileError(f"{label}: parts {sorted(texts)}, but the layout uses {wanted}")
    return JudgePrompt(
        prompt_id, int(fields["version"]), texts, LAYOUTS[prompt_id], PREPARATION[prompt_id], DETAIL.get(prompt_id)
    )
