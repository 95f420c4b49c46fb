"""T5 token ids of instruction segments, as MIGE's own environment (transformers 4.33.2) produced them.

MIGE tokenizes every ``<imagehere>``-separated segment of a prompt on its own, and the released weights
were trained and run on the ids of transformers 4.33.2's ``T5TokenizerFast``, built from the released
``t5-v1_1-xxl/spiece.model`` by that version's slow-to-fast conversion. That conversion assembles:

- normalizer: the sentencepiece model's precompiled character map (NFKC-like folding; newlines and
  tabs become spaces), then every run of two or more spaces replaced by one;
- pre-tokenizer: ``Metaspace``: spaces become "▁", a "▁" is prepended unless the text already starts
  with one, and the text is split before every "▁";
- model: the Unigram pieces and scores of the sentencepiece model (unknown pieces fused into one).

Nothing strips the ends, so a segment's trailing space survives as a lone "▁" piece:
``"make "`` → ``['▁make', '▁']``, while ``" in"`` and ``"in"`` both give ``['▁in']``. transformers 5
converts the same file with a whitespace-splitting pre-tokenizer that drops that piece and no longer
collapses space runs, which changes the ids of every segment that ends with a space before a
placeholder (e.g. every edit instruction that names "the image"). :class:`LegacyT5Tokenizer` rebuilds
the 4.33.2 pipeline around the vocabulary the installed transformers loaded, so the ids are the
authors' whatever transformers 5 does; ``tests/mige_t5_433_ids.py`` holds ids produced by
4.33.2 itself and the command that made them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

#: The word-start marker of sentencepiece.
WORD_START = "▁"


def _precompiled_charsmaps(normalizer: dict[str, Any] | None) -> list[str]:
    """Every precompiled character map in a serialized normalizer (base64), outermost first."""
    if not normalizer:
        return []
    if normalizer.get("type") == "Precompiled":
        return [normalizer["precompiled_charsmap"]] if normalizer.get("precompiled_charsmap") else []
    return [m for inner in normalizer.get("normalizers") or [] for m in _precompiled_charsmaps(inner)]


class LegacyT5Tokenizer:
    """A T5 tokenizer's vocabulary behind transformers 4.33.2's ``T5TokenizerFast`` pipeline.

    Built from a loaded transformers tokenizer (``AutoTokenizer`` on the released ``t5-v1_1-xxl/`` or on
    a converted folder): its Unigram model, special tokens and precompiled character map are kept, its
    normalizer and pre-tokenizer are replaced by the 4.33.2 ones (module docstring).
    """

    def __init__(self, tokenizer: Any) -> None:
        from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

        name = type(tokenizer).__name__
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self.eos_token_id = getattr(tokenizer, "eos_token_id", None)
        if backend is None or self.eos_token_id is None:
            raise ValueError(
                f"the tokenizer {name} is not a T5 sentencepiece tokenizer (no fast backend or no EOS "
                "token); MIGE needs the T5 tokenizer of its t5-v1_1-xxl/ folder"
            )
        spec = json.loads(backend.to_str())
        model_type = (spec.get("model") or {}).get("type")
        if model_type != "Unigram":
            raise ValueError(
                f"the tokenizer {name} has a {model_type} model, not T5's sentencepiece Unigram; MIGE "
                "needs the T5 tokenizer of its t5-v1_1-xxl/ folder"
            )
        charsmaps = _precompiled_charsmaps(spec.get("normalizer"))
        legacy = Tokenizer.from_str(backend.to_str())
        steps = [normalizers.Precompiled(base64.b64decode(charsmaps[0]))] if charsmaps else []
        legacy.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])
        legacy.pre_tokenizer = pre_tokenizers.Metaspace(replacement=WORD_START, prepend_scheme="always", split=True)
        legacy.no_truncation()
        legacy.no_padding()
        self._tokenizer = legacy

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` alone, without special tokens (no EOS)."""
        if not isinstance(text, str):
            raise TypeError(f"expected the text as a str, got {type(text).__name__}")
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def tokens(self, text: str) -> list[str]:
        """The pieces of :meth:`encode`, for messages and tests."""
        return self._tokenizer.encode(text, add_special_tokens=False).tokens
