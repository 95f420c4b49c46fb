"""MIGE's segment ids equal transformers 4.33.2's (the authors' pinned version), under transformers 5.

The expected ids are literals produced by transformers 4.33.2 itself (``tests/mige_t5_433_ids.py`` says how), on
a tiny sentencepiece model with T5's normalizer that both versions read from the same bytes.
"""

from __future__ import annotations

import pytest

from mige_model.splice import tokenize_segments
from mige_model.t5_tokens import LegacyT5Tokenizer
from mige_model.text import split_at_placeholders
from mige_t5_433_ids import EXPECTED, PROMPTS


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The tiny ``spiece.model`` read by transformers 5, as MIGE's loader reads the released folder."""
    pytest.importorskip("sentencepiece")
    from transformers import T5TokenizerFast

    from tiny_tokenizers import t5_sentencepiece_folder

    return T5TokenizerFast.from_pretrained(t5_sentencepiece_folder(tmp_path_factory.mktemp("spiece")))


@pytest.fixture(scope="module")
def legacy(loaded) -> LegacyT5Tokenizer:
    return LegacyT5Tokenizer(loaded)


def test_every_prompt_has_its_literal():
    assert list(EXPECTED) == list(PROMPTS)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_segment_ids_equal_transformers_4_33_2(legacy, prompt):
    assert tokenize_segments(legacy, split_at_placeholders(prompt)) == EXPECTED[prompt]


def test_a_trailing_space_keeps_its_word_start_piece(legacy, loaded):
    """The case the released model depends on, and what transformers 5's own pipeline does instead."""
    assert legacy.tokens("the image ") == ["▁the", "▁image", "▁"]
    assert legacy.tokens("the image") == legacy.tokens(" the image") == ["▁the", "▁image"]
    assert loaded.convert_ids_to_tokens(loaded("the image ", add_special_tokens=False)["input_ids"]) == [
        "▁the",
        "▁image",
    ]


def test_the_readable_and_the_authors_placeholder_spacing_differ(legacy):
    """ "a <imagehere> in" ends its first segment with "▁"; "a<imagehere>in", the authors' form, does not."""
    spaced = tokenize_segments(legacy, ["a ", " in the jungle"])
    authors = tokenize_segments(legacy, ["a", "in the jungle"])
    assert spaced[0] == authors[0] + [legacy.encode(" ")[0]] and spaced[1] == authors[1]


def test_the_tiny_vocabulary_without_a_character_map(legacy):
    """A tokenizer built from a vocabulary (no precompiled map) gets the space-run rule and Metaspace only."""
    from tiny_tokenizers import t5_tokenizer

    plain = LegacyT5Tokenizer(t5_tokenizer())
    for text in ("make ", "a  dog  ", " in the jungle", "<imagehere>"):
        assert plain.tokens(text) == legacy.tokens(text)
    assert plain.eos_token_id == 1
    # The character map is what turns a newline into a space; without it the newline stays a character.
    assert legacy.tokens("a\nb") == ["▁a", "▁", "b"] and plain.tokens("a\nb") == ["▁a", "\n", "b"]


def test_only_a_t5_sentencepiece_tokenizer_is_taken():
    from tiny_tokenizers import bert_tokenizer, clip_tokenizer

    with pytest.raises(ValueError, match="BertTokenizer is not a T5 sentencepiece tokenizer"):
        LegacyT5Tokenizer(bert_tokenizer())
    with pytest.raises(ValueError, match="CLIPTokenizer has a BPE model, not T5's sentencepiece Unigram"):
        LegacyT5Tokenizer(clip_tokenizer())
    with pytest.raises(TypeError, match="expected the text as a str, got NoneType"):
        LegacyT5Tokenizer(__import__("tiny_tokenizers").t5_tokenizer()).encode(None)  # type: ignore[arg-type]
