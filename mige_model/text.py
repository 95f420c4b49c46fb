"""The instruction text MIGE was trained on: BLIP caption cleaning, per-task prompts, image placeholders.

MIGE sees an instruction as text interleaved with images: every ``<imagehere>`` in the final prompt is
where one reference image's 32 query tokens are spliced in. The released weights were trained and run on
prompts cleaned by BLIP's caption processor (as the authors configure it: 88 words) and wrapped in a
fixed prefix per task, so a prompt built any other way is a different input. This module builds those
exact strings (docs/mige_model.md, "Text processor", "Prompts per task", "Placeholders").
"""

from __future__ import annotations

import re

# Where a reference image goes in a prompt (mige-eval's one placeholder). Matched case-insensitively:
# the authors' data files write both ``<ImageHere>`` and ``<imagehere>``, and the caption processor
# lower-cases before splitting.
from mige_eval.types import PLACEHOLDER

#: The caption processor's word limit in the authors' copy of LAVIS (upstream LAVIS defaults to 50).
MAX_WORDS = 88

_PUNCTUATION = re.compile(r"([.!\"()*#:;~])")
_WHITESPACE_RUN = re.compile(r"\s{2,}")
_PLACEHOLDER_PATTERN = re.compile(re.escape(PLACEHOLDER), flags=re.IGNORECASE)
_SPACED_PLACEHOLDER = re.compile(rf"\s*{re.escape(PLACEHOLDER)}\s*", flags=re.IGNORECASE)

SUBJECT_PREFIX = (
    "Follow the text instruction to generate an image with the given objects' images, "
    "preserving the subject's identity:\n "
)
EDIT_PREFIX = "Follow the instruction to edit the image:\n "
MIGEBENCH_PREFIX = "Subject-driven editing:\n "
#: Phrases that name the source image in an editing instruction; each becomes the placeholder.
IMAGE_PHRASES = ("the image", "this image", "this photo", "the photo", "the picture", "this picture")
_IMAGE_PHRASE_PATTERNS = tuple(
    re.compile(rf"\s*{re.escape(phrase)}\s*", flags=re.IGNORECASE) for phrase in IMAGE_PHRASES
)


def _require_text(caller: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{caller}: expected the text as a str, got {type(value).__name__}")


def process_caption(text: str, *, max_words: int = MAX_WORDS) -> str:
    """BLIP's caption cleaning, step for step as LAVIS ``BlipCaptionProcessor.pre_caption`` does it.

    1. lower-case, and replace each of ``. ! " ( ) * # : ; ~`` by a space;
    2. replace every run of two or more whitespace characters by one space (a lone newline or tab
       survives: only runs are collapsed);
    3. strip trailing newlines, then spaces at both ends;
    4. keep the first ``max_words`` words, words being split on single spaces.
    """
    _require_text("process_caption", text)
    if max_words < 1:
        raise ValueError(f"process_caption: max_words must be at least 1, got {max_words}")
    caption = _PUNCTUATION.sub(" ", text.lower())
    caption = _WHITESPACE_RUN.sub(" ", caption)
    caption = caption.rstrip("\n").strip(" ")
    words = caption.split(" ")
    if len(words) > max_words:
        caption = " ".join(words[:max_words])
    return caption


def subject_prompt(instruction: str) -> str:
    """Subject-driven generation: the fixed prefix and the instruction, cleaned together.

    The instruction carries its own placeholders, one per subject photo.
    """
    _require_text("subject_prompt", instruction)
    return process_caption(SUBJECT_PREFIX + instruction)


def authors_placeholder_spacing(instruction: str) -> str:
    """The instruction as the authors write subject and MIGEBench instructions: no whitespace around a
    placeholder (``"a <imagehere> in the jungle"`` → ``"a<imagehere>in the jungle"``).

    It matters twice: each segment is tokenized alone, and a segment's trailing space is a token of its
    own (:mod:`mige_model.t5_tokens`), so ``"a "`` and ``"a"`` give different ids; and the 88-word cut
    counts ``a<imagehere>in`` as one word, as theirs does.
    """
    _require_text("authors_placeholder_spacing", instruction)
    return _SPACED_PLACEHOLDER.sub(PLACEHOLDER, instruction)


def edit_prompt(instruction: str, *, global_edit: bool) -> str:
    """Instruction-based editing: the source image enters the prompt as a placeholder.

    Each phrase of :data:`IMAGE_PHRASES` (any case, with the whitespace around it) becomes
    ``" <imagehere> "``. An instruction that then holds no placeholder gets one appended after its
    trailing full stops are removed: ``" of<imagehere>"`` for a global edit (Emu Edit's ``global``
    task), ``" in<imagehere>"`` otherwise. Only that rewritten instruction is cleaned; the prefix is
    added afterwards, so it keeps its capital letter and its newline.

    One deliberate difference from the authors' script: it looks for an existing placeholder
    case-sensitively, so an instruction that already holds ``<ImageHere>`` would get a second one. Here
    any spelling counts, as everywhere else a placeholder is matched.
    """
    _require_text("edit_prompt", instruction)
    rewritten = instruction
    for pattern in _IMAGE_PHRASE_PATTERNS:
        rewritten = pattern.sub(f" {PLACEHOLDER} ", rewritten)
    if not _PLACEHOLDER_PATTERN.search(rewritten):
        preposition = "of" if global_edit else "in"
        rewritten = f"{rewritten.rstrip('.')} {preposition}{PLACEHOLDER}"
    return EDIT_PREFIX + process_caption(rewritten)


def migebench_prompt(instruction: str) -> str:
    """MIGEBench subject-driven editing: the fixed prefix and the instruction, cleaned together."""
    _require_text("migebench_prompt", instruction)
    return process_caption(MIGEBENCH_PREFIX + instruction)


def split_at_placeholders(prompt: str) -> list[str]:
    """The text around the image placeholders: ``n + 1`` segments for ``n`` placeholders, in order.

    Segments may be empty (a placeholder at either end, or two placeholders in a row); the splicer
    still needs them to know where each image block goes.
    """
    _require_text("split_at_placeholders", prompt)
    return _PLACEHOLDER_PATTERN.split(prompt)
