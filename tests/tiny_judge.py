"""Tiny randomly initialised Qwen2.5-VL and Qwen3-VL judge checkpoints, saved the way a user's download holds them.

Config and safetensors weights (``save_pretrained``), a byte-level BPE ``Qwen2Tokenizer`` with Qwen's
special tokens, the image processor config (small pixel bounds, so prompts stay short), a generation
config (Qwen2.5-VL's carries a repetition penalty, as the released checkpoint does) and a chat template
that lays out messages the way the released ones do. Weights are drawn wide (``initializer_range`` 0.5)
so that the answers, noise as they are, depend on what the judge is shown.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_tokenizers import _bytes_to_unicode

SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
#: The released layout: a default system turn, then each turn's images as vision blocks and texts in order.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for p in m['content'] %}{% if p['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
#: (patch size, min pixels, max pixels) of each tiny checkpoint's image processor.
VISION = {"qwen2_5_vl": (14, 56 * 56, 112 * 112), "qwen3_vl": (16, 64 * 64, 128 * 128)}


def _tokenizer():
    from transformers import Qwen2Tokenizer

    tokenizer = Qwen2Tokenizer(vocab={c: i for i, c in enumerate(_bytes_to_unicode().values())}, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIALS[1:])})
    return tokenizer, dict(zip(SPECIALS, tokenizer.convert_tokens_to_ids(list(SPECIALS))))


def _text(tokenizer, ids, **extra) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=8192,
        initializer_range=0.5,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        **extra,
    )


def _tokens(ids) -> dict:
    return dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def _save(model, tokenizer, folder: Path, kind: str, **processor) -> Path:
    from transformers import Qwen2VLImageProcessorPil

    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    patch, low, high = VISION[kind]
    Qwen2VLImageProcessorPil(
        patch_size=patch, merge_size=2, min_pixels=low, max_pixels=high, **processor
    ).save_pretrained(folder)
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    return folder


def save_tiny_qwen25_vl(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer, ids = _tokenizer()
    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(
        text_config=_text(
            tokenizer, ids, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=32,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,
            fullatt_block_indexes=[1],
        ),
        **_tokens(ids),
    )
    folder = _save(Qwen2_5_VLForConditionalGeneration(config), tokenizer, Path(folder), "qwen2_5_vl")
    generation = json.loads((folder / "generation_config.json").read_text())
    generation.update(repetition_penalty=1.05, do_sample=True, temperature=0.1, top_k=1, top_p=0.001)
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return folder


def save_tiny_qwen3_vl(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    tokenizer, ids = _tokenizer()
    torch.manual_seed(seed)
    config = Qwen3VLConfig(
        text_config=_text(
            tokenizer,
            ids,
            head_dim=16,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=32,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0],
        ),
        **_tokens(ids),
    )
    return _save(
        Qwen3VLForConditionalGeneration(config),
        tokenizer,
        Path(folder),
        "qwen3_vl",
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
