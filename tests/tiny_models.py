"""Tiny randomly initialised CLIP and DINO checkpoints, saved the way a user has them on disk.

Config, safetensors, tokenizer and preprocessor files; they reach the project only through
``--clip-model`` / ``--dino-model`` (``ScoringOptions``). The DINO folder ships the stock
``ViTImageProcessor`` config of ``facebook/dino-vits16`` (bilinear squash to 224², no crop), which the
project must ignore. Session fixtures ``tiny_clip`` / ``tiny_dino`` in ``tests/conftest.py`` build them once.
"""

from __future__ import annotations

from pathlib import Path

import tiny_tokenizers

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def save_tiny_clip(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tok = tiny_tokenizers.clip_tokenizer()
    torch.manual_seed(seed)
    # eos_token_id 2 as in openai/clip-vit-base-patch32's config: pooling at the highest token id (end-of-text).
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=224,
            patch_size=32,
        ),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    tiny_tokenizers.save(tok, folder)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        resample=3,
        do_center_crop=True,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    processor.save_pretrained(folder)
    return folder


def save_tiny_dino(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(seed)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=224,
        patch_size=16,
        qkv_bias=True,
        layer_norm_eps=1e-12,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    # Like facebook/dino-vits16: a ViTModel without pooler weights.
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    # The stock processor that checkpoint ships (bilinear squash to 224x224, no crop): must NOT be used.
    ViTImageProcessor(
        do_resize=True,
        size={"height": 224, "width": 224},
        resample=2,
        do_normalize=True,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    ).save_pretrained(folder)
    return folder
