"""The interleaved instruction: T5 input embeddings of text segments with image-token blocks between them.

MIGE conditions its DiT on a *multimodal* instruction. The prompt is split at each ``<imagehere>``
(see :mod:`mige_model.text`); each text segment is tokenised alone without special tokens, as
transformers 4.33.2 did (:mod:`mige_model.t5_tokens`), the EOS id is
appended to the last segment only, and the T5 input embeddings of the segments are interleaved with the
32-token blocks of the reference images, in order:

    emb(seg_0), img_0, emb(seg_1), img_1, …, img_{n-1}, emb(seg_n)

The sequence is padded to ``max_tokens`` (256) with the embedding of token id 0 and mask 0, or cut at
``max_tokens`` with mask 1 everywhere; a cut also removes the EOS, as the released code does. Unlike the
authors' code, which silently drops text or images when the counts differ, a prompt with n placeholders
must come with exactly n images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mige_model.t5_tokens import LegacyT5Tokenizer
from mige_model.text import PLACEHOLDER


def tokenize_segments(tokenizer: LegacyT5Tokenizer, segments: Sequence[str]) -> list[list[int]]:
    """Token ids of each text segment, no special tokens, the EOS id ending the last one.

    ``tokenizer`` gives the ids of transformers 4.33.2, the version MIGE was trained and run with
    (:mod:`mige_model.t5_tokens`): a segment's trailing space is a "▁" piece of its own.
    """
    if not isinstance(tokenizer, LegacyT5Tokenizer):
        raise TypeError(
            f"expected a LegacyT5Tokenizer (mige_model.t5_tokens), got {type(tokenizer).__name__}; "
            "wrap the T5 tokenizer: LegacyT5Tokenizer(tokenizer)"
        )
    if not segments:
        raise ValueError("an instruction needs at least one text segment (possibly empty); got none")
    ids = [tokenizer.encode(segment) for segment in segments]
    ids[-1].append(tokenizer.eos_token_id)
    return ids


def released_slots(segments: Sequence[str], images: int, *, slots: int) -> tuple[list[str], int]:
    """The released code's splice of a prompt with more placeholders than images (``empty_slots=true``).

    The authors give every sample ``slots`` (four) image slots, the unused ones all zero (zero pixels after
    CLIP normalisation, a zero VAE latent), run all of them through the encoders, and zip the first
    segments with the slots, then append the last segment: with n placeholders, the first min(n, slots)
    slots are spliced, images first, then empty slots; with more than ``slots`` placeholders the text
    between the slots-th and the last placeholder is dropped, the last segment (with its EOS) is kept.
    Returns the segments that are spliced and how many empty slots follow the images.
    """
    placeholders = len(segments) - 1
    if not 0 <= images <= min(placeholders, slots):
        raise ValueError(
            f"{images} image(s) cannot fill the slots of a prompt with {placeholders} placeholder(s) and "
            f"{slots} slots; give at most one image per placeholder and at most {slots} images"
        )
    kept = list(segments) if placeholders <= slots else [*segments[:slots], segments[-1]]
    return kept, min(placeholders, slots) - images


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def splice(
    segment_ids: Sequence[Sequence[int]],
    image_tokens: torch.Tensor,
    embed: nn.Embedding,
    *,
    max_tokens: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One instruction as T5 input embeddings (max_tokens×D) and its attention mask (max_tokens,), long.

    ``segment_ids`` are the n+1 segments of a prompt with n placeholders (:func:`tokenize_segments`);
    ``image_tokens`` (n×Q×D) holds the n image blocks in placeholder order; ``embed`` is T5's input
    embedding table (D = its embedding size).
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    dim = embed.embedding_dim
    if image_tokens.ndim != 3 or image_tokens.shape[-1] != dim:
        raise ValueError(
            f"image_tokens must have shape (images, tokens, {dim}) to sit between text embeddings of "
            f"size {dim}, got {tuple(image_tokens.shape)}"
        )
    placeholders, images = len(segment_ids) - 1, image_tokens.shape[0]
    if placeholders != images:
        given = _count(images, "image was given", "images were given")
        raise ValueError(
            f"the instruction has {_count(placeholders, PLACEHOLDER + ' placeholder', PLACEHOLDER + ' placeholders')} "
            f"but {given}; give exactly one reference image per placeholder, in order"
        )
    weight = embed.weight
    image_tokens = image_tokens.to(device=weight.device, dtype=weight.dtype)

    def embedded(ids: Sequence[int]) -> torch.Tensor:
        return embed(torch.tensor(list(ids), dtype=torch.long, device=weight.device))

    pieces = [embedded(segment_ids[0])]
    for image, ids in zip(image_tokens, segment_ids[1:]):
        pieces += [image, embedded(ids)]
    sequence = torch.cat(pieces)[:max_tokens]
    length = sequence.shape[0]
    padding = embedded([0]).expand(max_tokens - length, dim)
    mask = torch.zeros(max_tokens, dtype=torch.long, device=weight.device)
    mask[:length] = 1
    return torch.cat([sequence, padding]), mask


def splice_batch(
    segment_ids: Sequence[Sequence[Sequence[int]]],
    image_tokens: Sequence[torch.Tensor],
    embed: nn.Embedding,
    *,
    max_tokens: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`splice` per sample, stacked: embeddings B×max_tokens×D and masks B×max_tokens (long)."""
    if len(segment_ids) != len(image_tokens):
        raise ValueError(
            f"got token segments for {len(segment_ids)} instructions but image tokens for "
            f"{len(image_tokens)}; pass one entry of each per sample"
        )
    if not segment_ids:
        raise ValueError("splice_batch needs at least one instruction; got none")
    embeddings, masks = [], []
    for index, (ids, images) in enumerate(zip(segment_ids, image_tokens)):
        try:
            sequence, mask = splice(ids, images, embed, max_tokens=max_tokens)
        except ValueError as error:
            raise ValueError(f"sample {index}: {error}") from None
        embeddings.append(sequence)
        masks.append(mask)
    return torch.stack(embeddings), torch.stack(masks)
