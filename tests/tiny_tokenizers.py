"""Tokenizers of the real classes with tiny vocabularies, built offline for tiny test models.

No tokenizer can be downloaded here, so tests build CLIP (byte-level BPE), BERT (WordPiece) and T5
(Unigram) tokenizers from hand-made vocabularies and save them next to the tiny models, as a user's
checkpoint folder would hold them.
"""
from __future__ import annotations

import string
from pathlib import Path

WORDS = (
    "a an the of in on at with and to is dog cat photo image picture background jungle snow beach "
    "red blue green purple shiny wet cube shaped toy backpack bowl can candle clock sneaker boot "
    "glasses cartoon teapot vase stuffed animal add replace remove make change color style sky "
    "follow instruction edit generate preserving subject identity given objects images driven editing"
).split()


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-to-character table (every byte gets a printable character)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs)))


def clip_tokenizer():
    """A ``CLIPTokenizer``: every byte a token (with and without ``</w>``) plus merges for "the", "dog"."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars + [c + "</w>" for c in chars]:
        vocab[c] = len(vocab)
    merges = [("t", "h"), ("th", "e</w>"), ("d", "o"), ("do", "g</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def bert_tokenizer():
    """A lower-casing ``BertTokenizer`` over the special tokens, letters, digits and :data:`WORDS`."""
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."]
    tokens += list(string.ascii_lowercase + string.digits) + ["##" + c for c in string.ascii_lowercase]
    tokens += [w for w in WORDS if w not in tokens]
    return BertTokenizer(vocab={t: i for i, t in enumerate(tokens)})


def t5_tokenizer(extra_ids: int = 0):
    """A ``T5Tokenizer`` (Unigram) whose pieces are :data:`WORDS` and single characters; ids 0/1/2 = pad/eos/unk."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("▁" + w, -2.0) for w in WORDS]
    pieces += [(c, -5.0) for c in string.ascii_letters + string.digits + string.punctuation]
    pieces += [("▁", -3.0)]
    return T5Tokenizer(vocab=pieces, extra_ids=extra_ids)


def save(tokenizer, directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    return directory
