"""Tokenizers of the real classes with tiny vocabularies, built offline for tiny test models.

No tokenizer can be downloaded here, so tests build CLIP and Qwen2 (byte-level BPE), BERT (WordPiece), T5
(Unigram) and Llama/Mistral (BPE with byte fallback) tokenizers from hand-made vocabularies and save them next
to the tiny models, as a user's checkpoint folder would hold them.
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


def t5_pieces() -> list[tuple[str, float]]:
    """The tiny T5 vocabulary: pad/eos/unk (ids 0/1/2), "▁" + each of :data:`WORDS`, single characters, "▁"."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("▁" + w, -2.0) for w in WORDS]
    pieces += [(c, -5.0) for c in string.ascii_letters + string.digits + string.punctuation]
    pieces += [("▁", -3.0)]
    return pieces


def t5_tokenizer(extra_ids: int = 0):
    """A ``T5Tokenizer`` (Unigram) over :func:`t5_pieces`."""
    from transformers import T5Tokenizer

    return T5Tokenizer(vocab=t5_pieces(), extra_ids=extra_ids)


def t5_sentencepiece_folder(directory: Path) -> Path:
    """``spiece.model`` over :func:`t5_pieces`, alone in ``directory``, as the released ``t5-v1_1-xxl/`` ships it.

    The normalizer is sentencepiece's ``nmt_nfkc`` with its precompiled character map (T5's own rule),
    taken from a throw-away training run of the installed ``sentencepiece``; the pieces are then replaced
    by :func:`t5_pieces` (pad and eos as control pieces, unk as the unknown piece). Needs only
    ``sentencepiece`` (and its protobuf module), so transformers 4.33 can read the very same file.
    """
    import io

    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    trained = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(WORDS),
        model_writer=trained,
        model_type="unigram",
        vocab_size=len(WORDS),
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    model = sentencepiece_model_pb2.ModelProto.FromString(trained.getvalue())
    if model.normalizer_spec.name != "nmt_nfkc" or not model.normalizer_spec.precompiled_charsmap:
        raise RuntimeError("sentencepiece did not produce its nmt_nfkc character map")
    kinds = {
        "<pad>": model.SentencePiece.CONTROL,
        "</s>": model.SentencePiece.CONTROL,
        "<unk>": model.SentencePiece.UNKNOWN,
    }
    del model.pieces[:]
    for piece, score in t5_pieces():
        model.pieces.add(piece=piece, score=score, type=kinds.get(piece, model.SentencePiece.NORMAL))
    model.trainer_spec.vocab_size = len(model.pieces)
    model.trainer_spec.ClearField("input")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spiece.model").write_bytes(model.SerializeToString())
    return directory


def save(tokenizer, directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    return directory


#: Special tokens of the Qwen2 / Qwen2.5-VL / Qwen3 tokenizers that the image pipelines' templates use.
QWEN_SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Qwen3's chat template reduced to what ``Flux2KleinPipeline`` renders: user turns, the generation prompt and
#: the empty thinking block that ``enable_thinking=False`` adds.
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)

#: Mistral-Small-3's chat template reduced to what ``Flux2Pipeline`` renders: a system turn, user turns whose
#: content is a list of text parts.
MISTRAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set text = message['content'] if message['content'] is string else "
    "message['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') %}"
    "{% if message['role'] == 'system' %}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{% elif message['role'] == 'user' %}[INST]{{ text }}[/INST]{% endif %}{% endfor %}"
)


def qwen2_tokenizer(chat_template: str | None = None):
    """A ``Qwen2Tokenizer``: every byte a token (GPT-2 byte alphabet, no merges) plus the Qwen special tokens."""
    from transformers import Qwen2Tokenizer

    vocab = {c: i for i, c in enumerate(_bytes_to_unicode().values())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def llama_tokenizer(extra_special_tokens: tuple[str, ...] = ()):
    """A ``LlamaTokenizer`` (BPE, byte fallback): unk 0, bos 1, eos/pad 2, bytes, letters, digits, :data:`WORDS`."""
    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in ["▁", *string.ascii_letters, *string.digits, *("▁" + w for w in WORDS)]:
        vocab.setdefault(piece, len(vocab))
    tokenizer = LlamaTokenizer(vocab=vocab, merges=[])
    if extra_special_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": list(extra_special_tokens)})
    return tokenizer
