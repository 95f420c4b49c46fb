"""Splicing the interleaved instruction: segment tokenisation, order, padding, truncation and count checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mige_model.splice import released_slots, splice, splice_batch, tokenize_segments
from mige_model.t5_tokens import LegacyT5Tokenizer

DIM, QUERIES = 6, 3


@pytest.fixture(scope="module")
def tokenizer():
    from tiny_tokenizers import t5_tokenizer

    return t5_tokenizer()


@pytest.fixture(scope="module")
def legacy(tokenizer) -> LegacyT5Tokenizer:
    return LegacyT5Tokenizer(tokenizer)


@pytest.fixture
def embed() -> nn.Embedding:
    torch.manual_seed(0)
    table = nn.Embedding(20, DIM)
    with torch.no_grad():
        table.weight[0] = torch.arange(DIM, dtype=torch.float32) + 1  # a distinctive, non-zero pad row
    return table


def images(n: int) -> torch.Tensor:
    return torch.randn(n, QUERIES, DIM) + 100 * torch.arange(1, n + 1).reshape(n, 1, 1)


def rows(embed: nn.Embedding, ids: list[int]) -> list[torch.Tensor]:
    return [embed.weight[i].detach() for i in ids]


def check(out, mask, expected_rows, embed, max_tokens):
    """``out`` holds ``expected_rows`` then pad rows (= embedding of id 0); mask 1 then 0."""
    used = min(len(expected_rows), max_tokens)
    expected = expected_rows[:used] + rows(embed, [0] * (max_tokens - used))
    assert out.shape == (max_tokens, DIM)
    torch.testing.assert_close(out.detach(), torch.stack(expected), rtol=0, atol=0)
    assert mask.dtype == torch.long
    assert mask.tolist() == [1] * used + [0] * (max_tokens - used)


def test_tokenize_segments_adds_eos_to_the_last_segment_only(tokenizer, legacy):
    ids = tokenize_segments(legacy, ["follow the instruction", " and", ""])
    piece = tokenizer.convert_tokens_to_ids
    assert ids == [[piece("▁follow"), piece("▁the"), piece("▁instruction")], [piece("▁and")], [1]]
    assert tokenizer.eos_token_id == 1
    assert tokenize_segments(legacy, ["a dog"]) == [[piece("▁a"), piece("▁dog"), 1]]


def test_tokenize_segments_bad_inputs(tokenizer, legacy):
    with pytest.raises(ValueError, match="at least one text segment"):
        tokenize_segments(legacy, [])
    with pytest.raises(TypeError, match="expected a LegacyT5Tokenizer .* got T5Tokenizer; wrap the T5 tokenizer"):
        tokenize_segments(tokenizer, ["a dog"])


def test_text_before_between_and_after(embed):
    torch.manual_seed(1)
    blocks = images(2)
    out, mask = splice([[5, 6], [7], [8, 9, 1]], blocks, embed, max_tokens=16)
    expected = rows(embed, [5, 6]) + list(blocks[0]) + rows(embed, [7]) + list(blocks[1]) + rows(embed, [8, 9, 1])
    check(out, mask, expected, embed, 16)


def test_adjacent_placeholders_and_empty_segments(embed):
    torch.manual_seed(2)
    blocks = images(2)
    out, mask = splice([[], [], [4, 1]], blocks, embed, max_tokens=10)
    check(out, mask, list(blocks[0]) + list(blocks[1]) + rows(embed, [4, 1]), embed, 10)


def test_zero_images(embed):
    out, mask = splice([[3, 4, 1]], torch.zeros(0, QUERIES, DIM), embed, max_tokens=5)
    check(out, mask, rows(embed, [3, 4, 1]), embed, 5)


def test_padding_rows_equal_the_embedding_of_id_zero(embed):
    out, mask = splice([[2, 1]], torch.zeros(0, QUERIES, DIM), embed, max_tokens=6)
    assert torch.equal(out[2:], torch.arange(1, DIM + 1, dtype=torch.float32).expand(4, DIM))
    assert mask.tolist() == [1, 1, 0, 0, 0, 0]


def test_truncation_cuts_at_max_tokens_and_drops_the_eos(embed):
    torch.manual_seed(3)
    blocks = images(1)
    text = list(range(2, 12))
    out, mask = splice([text, [13, 1]], blocks, embed, max_tokens=12)
    check(out, mask, rows(embed, text) + list(blocks[0]) + rows(embed, [13, 1]), embed, 12)
    assert torch.equal(out[-1], blocks[0][1])  # cut inside the image block: the EOS row is gone
    assert mask.tolist() == [1] * 12


def test_exact_fit_has_no_padding(embed):
    out, mask = splice([[2, 3, 1]], torch.zeros(0, QUERIES, DIM), embed, max_tokens=3)
    check(out, mask, rows(embed, [2, 3, 1]), embed, 3)


def test_image_tokens_take_the_embedding_dtype(embed):
    blocks = images(1).double()
    out, _ = splice([[2], [1]], blocks, embed, max_tokens=8)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[1:4], blocks[0].float(), rtol=0, atol=0)


def test_placeholder_count_must_match_image_count(embed):
    with pytest.raises(ValueError, match="the instruction has 3 <imagehere> placeholders but 2 images were given"):
        splice([[2], [3], [4], [1]], images(2), embed)
    with pytest.raises(ValueError, match="has 1 <imagehere> placeholder but 0 images were given"):
        splice([[2], [1]], torch.zeros(0, QUERIES, DIM), embed)
    with pytest.raises(ValueError, match="has 0 <imagehere> placeholders but 1 image was given; give exactly one"):
        splice([[1]], images(1), embed)


def test_bad_image_tokens_and_max_tokens(embed):
    with pytest.raises(ValueError, match=r"image_tokens must have shape \(images, tokens, 6\).*got \(1, 3, 5\)"):
        splice([[2], [1]], torch.zeros(1, QUERIES, 5), embed)
    with pytest.raises(ValueError, match=r"image_tokens must have shape.*got \(3, 6\)"):
        splice([[2], [1]], torch.zeros(QUERIES, DIM), embed)
    with pytest.raises(ValueError, match="max_tokens must be at least 1, got 0"):
        splice([[1]], torch.zeros(0, QUERIES, DIM), embed, max_tokens=0)


def test_splice_batch_stacks_samples(embed):
    torch.manual_seed(4)
    segments = [[[5], [6, 1]], [[7, 8, 1]]]
    blocks = [images(1), torch.zeros(0, QUERIES, DIM)]
    out, mask = splice_batch(segments, blocks, embed, max_tokens=7)
    assert out.shape == (2, 7, DIM) and mask.shape == (2, 7) and mask.dtype == torch.long
    for index in range(2):
        single, single_mask = splice(segments[index], blocks[index], embed, max_tokens=7)
        assert torch.equal(out[index], single) and torch.equal(mask[index], single_mask)
    assert mask.sum(1).tolist() == [6, 3]


def test_splice_batch_bad_inputs(embed):
    with pytest.raises(ValueError, match="token segments for 2 instructions but image tokens for 1"):
        splice_batch([[[1]], [[1]]], [torch.zeros(0, QUERIES, DIM)], embed)
    with pytest.raises(ValueError, match="at least one instruction"):
        splice_batch([], [], embed)
    with pytest.raises(ValueError, match="sample 1: the instruction has 1 <imagehere> placeholder but 0 images"):
        splice_batch([[[1]], [[2], [1]]], [torch.zeros(0, QUERIES, DIM)] * 2, embed)


def test_tokenised_prompt_end_to_end(tokenizer, legacy, embed):
    big = nn.Embedding(len(tokenizer), DIM)
    ids = tokenize_segments(legacy, ["a dog", " in the snow"])
    blocks = images(1)
    out, mask = splice(ids, blocks, big, max_tokens=12)
    piece = tokenizer.convert_tokens_to_ids
    text_after = [piece("▁in"), piece("▁the"), piece("▁snow"), tokenizer.eos_token_id]
    expected = rows(big, [piece("▁a"), piece("▁dog")]) + list(blocks[0]) + rows(big, text_after)
    assert mask.sum() == 9
    torch.testing.assert_close(out[:9].detach(), torch.stack(expected), rtol=0, atol=0)
    torch.testing.assert_close(out[9:].detach(), big.weight[0].detach().expand(3, DIM), rtol=0, atol=0)


# --- the released code's splice of surplus placeholders (empty_slots=true) ---------------------------


@pytest.mark.parametrize(
    "segments, images, kept, empty",
    [
        (["a", "b"], 1, ["a", "b"], 0),  # one placeholder, one image
        (["change ", " so that the sky in ", " is pink"], 1, ["change ", " so that the sky in ", " is pink"], 1),
        (["x", "y"], 0, ["x", "y"], 1),  # no image: the slot is empty
        (["s0", "s1", "s2", "s3", "s4"], 2, ["s0", "s1", "s2", "s3", "s4"], 2),  # four placeholders, two images
        # Five placeholders: the first four slots are spliced, then the LAST segment; s4 is dropped.
        (["s0", "s1", "s2", "s3", "s4", "s5"], 4, ["s0", "s1", "s2", "s3", "s5"], 0),
        (["s0", "s1", "s2", "s3", "s4", "s5", "s6"], 1, ["s0", "s1", "s2", "s3", "s6"], 3),
    ],
)
def test_released_slots_follow_the_authors_zip(segments, images, kept, empty):
    """``zip(segments[:-1], four slots) + [segments[-1]]``, written out by hand for each case."""
    assert released_slots(segments, images, slots=4) == (kept, empty)


def test_released_slots_refuse_more_images_than_placeholders_or_slots():
    with pytest.raises(ValueError, match=r"2 image\(s\) cannot fill the slots of a prompt with 1 placeholder"):
        released_slots(["a", "b"], 2, slots=4)
    with pytest.raises(ValueError, match="at most 4 images"):
        released_slots(["a"] * 7, 5, slots=4)
