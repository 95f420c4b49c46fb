"""A tiny randomly initialised Qwen2.5-VL judge checkpoint, saved the way a user's download holds it.

Config and safetensors weights (``save_pretrained``), a byte-level BPE ``Qwen2Tokenizer`` with Qwen's
special tokens, the image processor config (small pixel bounds, so prompts stay short), a generation
config with a repetition penalty (as the released checkpoints carry one) and a chat template that lays
out messages the way Qwen2.5-VL's does. Its answers are noise.
"""
from __future__ import annotations

import json
from pathlib import Path

from tiny_tokenizers import _bytes_to_unicode

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<|video_pad|>")
#: Qwen2.5-VL's layout: a default system turn, then each turn's images as vision blocks and texts in order.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for p in m['content'] %}{% if p['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def save_tiny_qwen25_vl(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer, Qwen2VLImageProcessorPil

    folder = Path(folder)
    vocab = {c: i for i, c in enumerate(_bytes_to_unicode().values())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIALS[1:])})
    ids = dict(zip(SPECIALS, tokenizer.convert_tokens_to_ids(list(SPECIALS))))
    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], initializer_range=0.5,
                         pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
                           fullatt_block_indexes=[1]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # 56x56 to 112x112 pixels per image: 4 to 16 image tokens.
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112).save_pretrained(folder)
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    generation = json.loads((folder / "generation_config.json").read_text())
    generation.update(repetition_penalty=1.05, do_sample=True, temperature=0.1, top_k=1, top_p=0.001)
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))
    return folder
