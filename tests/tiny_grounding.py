"""Tiny randomly initialised GroundingDINO and SAM checkpoints of the real architectures, saved as a user has them.

GroundingDINO: a 4-stage Swin backbone (embed dim 8), a 1-layer BERT text encoder with
``tiny_tokenizers.bert_tokenizer()``, 20 queries, boxes about half the image wide; its processor resizes to shorter
side 64 / longer side ≤ 96 (the real one: 800 / 1333). SAM: a 2-layer ViT on 64² inputs (patch 8) with the real prompt
encoder and two-way mask decoder at width 16; its processor resizes the longest side to 64 and pads
to 64² (the real one: 1024). Both reach the project only through ``--detector-model`` / ``--sam-model``.

:func:`reference_crop` is the test suite's independent Grounded-SAM: MIGE's extraction script
(``MIGEBench_extract_entity.py``) restated in torch on the transformers models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import tiny_tokenizers

GDINO_SHORT, GDINO_LONG, SAM_SIZE = 64, 96, 64


def save_tiny_grounding_dino(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessorPil,
        GroundingDinoProcessor,
        SwinConfig,
    )

    tok = tiny_tokenizers.bert_tokenizer()
    torch.manual_seed(seed)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            image_size=GDINO_SHORT,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=4,
            out_indices=[2, 3, 4],
        ),
        text_config=BertConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        ),
        # d_model 64: the model's GroupNorms have 32 groups; 2 decoder layers: the box heads are tied across layers.
        d_model=64,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
        num_queries=20,
        max_text_len=32,
    )
    model = GroundingDinoForObjectDetection(config).eval()
    # The box head's last layer starts at zero, so every box would keep its 5%-wide proposal; a small random
    # head with a width/height bias gives half-image boxes at varied centres, some reaching past the edge.
    with torch.no_grad():
        last = model.bbox_embed[0].layers[-1]
        last.weight.normal_(0.0, 0.05)
        last.bias.copy_(torch.tensor([0.0, 0.0, 1.5, 1.5]))
    model.save_pretrained(folder)
    images = GroundingDinoImageProcessorPil(size={"shortest_edge": GDINO_SHORT, "longest_edge": GDINO_LONG})
    GroundingDinoProcessor(image_processor=images, tokenizer=tok).save_pretrained(folder)
    return folder


def save_tiny_sam(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import (
        SamConfig,
        SamImageProcessorPil,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    torch.manual_seed(seed)
    config = SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=16,
            output_channels=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=SAM_SIZE,
            patch_size=8,
            window_size=4,
            global_attn_indexes=[1],
            mlp_dim=32,
            num_pos_feats=8,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=16, image_size=SAM_SIZE, patch_size=8, mask_input_channels=4
        ),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=16, mlp_dim=32, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=16
        ),
    )
    SamModel(config).eval().save_pretrained(folder)
    images = SamImageProcessorPil(
        size={"longest_edge": SAM_SIZE},
        pad_size={"height": SAM_SIZE, "width": SAM_SIZE},
        mask_size={"longest_edge": SAM_SIZE // 4},
        mask_pad_size={"height": SAM_SIZE // 4, "width": SAM_SIZE // 4},
    )
    SamProcessor(image_processor=images).save_pretrained(folder)
    return folder


def reference_crop(gdino_dir, sam_dir, img: Image.Image, prompt: str) -> tuple[Image.Image | None, list[str]]:
    """MIGE's extraction script restated in torch on the transformers models: the crop (or None) and its flags."""
    import torch
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor, SamModel, SamProcessor

    proc = GroundingDinoProcessor.from_pretrained(gdino_dir)
    inputs = proc(images=img, text=prompt, return_tensors="pt")
    with torch.no_grad():
        out = GroundingDinoForObjectDetection.from_pretrained(gdino_dir).eval()(**inputs)
    scores = out.logits[0].sigmoid().max(dim=1)[0]
    if not (scores > 0.3).any():
        return img, ["no_detection"]
    cx, cy, w, h = out.pred_boxes[0, int(scores.argmax())]
    box = [
        ((cx - 0.5 * w) * img.width).item(),
        ((cy - 0.5 * h) * img.height).item(),
        ((cx + 0.5 * w) * img.width).item(),
        ((cy + 0.5 * h) * img.height).item(),
    ]
    found = proc.post_process_grounded_object_detection(
        out, inputs["input_ids"], threshold=0.3, target_sizes=[(img.height, img.width)]
    )[0]
    if not np.allclose(found["boxes"][int(found["scores"].argmax())].numpy(), box, atol=1e-3):
        raise AssertionError("transformers' post-processing disagrees with the script's box conversion")
    left, top, right, bottom = (round(v) for v in box)
    if right <= left or bottom <= top:  # Pillow gives an empty image, which the script failed to save
        return None, ["empty_crop"]
    rx, ry, rw, rh = out.pred_boxes[0, int(scores.argmax())].round(decimals=4)
    prompt_box = (
        torch.stack([rx - 0.5 * rw, ry - 0.5 * rh, rx + 0.5 * rw, ry + 0.5 * rh])
        * torch.tensor([img.width, img.height, img.width, img.height], dtype=torch.float32)
    ).tolist()
    sam_proc = SamProcessor.from_pretrained(sam_dir)
    sam_in = sam_proc(images=img, input_boxes=[[prompt_box]], return_tensors="pt")
    with torch.no_grad():
        sam_out = SamModel.from_pretrained(sam_dir).eval()(
            pixel_values=sam_in["pixel_values"], input_boxes=sam_in["input_boxes"].float(), multimask_output=False
        )
    mask = sam_proc.post_process_masks(sam_out.pred_masks, sam_in["original_sizes"], sam_in["reshaped_input_sizes"])
    pixels = np.array(img)
    pixels[~mask[0][0, 0].numpy()] = 0
    return Image.fromarray(pixels).crop(box), []
