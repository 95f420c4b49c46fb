"""The Q-Former's query branch: released key names, and outputs against transformers' Blip2QFormerModel."""

from __future__ import annotations

import re

import pytest
import torch

from mige_model.config import QFormerConfig
from mige_model.qformer import UNUSED_KEYS, QFormer

TINY = QFormerConfig(hidden=16, layers=3, heads=4, intermediate=24, cross_attention_freq=2, query_tokens=5)
ENCODER_WIDTH = 12


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return module


def transformers_name(ours: str) -> str:
    """Explicit map from the LAVIS/released names to transformers' Blip2QFormerModel names."""
    if ours.startswith("bert.embeddings.LayerNorm."):
        return "layernorm." + ours.rsplit(".", 1)[1]
    name = ours.removeprefix("bert.")
    return re.sub(r"\.(attention|crossattention)\.self\.", r".\1.attention.", name)


def test_state_dict_keys_are_the_released_names():
    keys = set(QFormer(TINY, encoder_width=ENCODER_WIDTH).state_dict())
    linear = ("weight", "bias")
    expected = {f"bert.embeddings.LayerNorm.{p}" for p in linear}
    for n in range(3):
        blocks = ["attention"] + (["crossattention"] if n % 2 == 0 else [])
        for block in blocks:
            for part in ("self.query", "self.key", "self.value", "output.dense", "output.LayerNorm"):
                expected |= {f"bert.encoder.layer.{n}.{block}.{part}.{p}" for p in linear}
        for part in ("intermediate_query.dense", "output_query.dense", "output_query.LayerNorm"):
            expected |= {f"bert.encoder.layer.{n}.{part}.{p}" for p in linear}
    assert keys == expected
    assert UNUSED_KEYS == ("bert.embeddings.position_ids",)
    assert not keys & set(UNUSED_KEYS)


def test_cross_attention_reads_the_image_width():
    state = QFormer(TINY, encoder_width=ENCODER_WIDTH).state_dict()
    assert state["bert.encoder.layer.0.crossattention.self.key.weight"].shape == (16, ENCODER_WIDTH)
    assert state["bert.encoder.layer.2.crossattention.self.value.weight"].shape == (16, ENCODER_WIDTH)
    assert state["bert.encoder.layer.0.crossattention.self.query.weight"].shape == (16, 16)
    assert state["bert.encoder.layer.1.intermediate_query.dense.weight"].shape == (24, 16)
    assert state["bert.encoder.layer.1.output_query.dense.weight"].shape == (16, 24)


def test_matches_transformers_blip2_qformer():
    from transformers import Blip2QFormerConfig, Blip2QFormerModel

    torch.manual_seed(0)
    ours = randomised(QFormer(TINY, encoder_width=ENCODER_WIDTH)).eval()
    config = Blip2QFormerConfig(
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=24,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        cross_attention_frequency=2,
        encoder_hidden_size=ENCODER_WIDTH,
        use_qformer_text_input=False,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    config._attn_implementation = "eager"
    theirs = Blip2QFormerModel(config).eval()
    mapped = {transformers_name(k): v for k, v in ours.state_dict().items()}
    assert set(mapped) == set(theirs.state_dict())  # every parameter of theirs is filled
    theirs.load_state_dict(mapped, strict=True)

    queries = torch.randn(2, 5, 16)
    image = torch.randn(2, 9, ENCODER_WIDTH)
    with torch.no_grad():
        expected = theirs(query_embeds=queries, encoder_hidden_states=image).last_hidden_state
        out = ours(queries, image)
    assert out.shape == (2, 5, 16)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_released_sizes_build():
    config = QFormerConfig()
    assert (config.hidden, config.layers, config.cross_attention_freq, config.eps) == (768, 12, 2, 1e-12)


@pytest.mark.parametrize(
    ("queries", "image", "message"),
    [
        ((2, 5, 15), (2, 9, 12), r"query_embeds must have shape \(batch, queries, 16\), got \(2, 5, 15\)"),
        ((5, 16), (2, 9, 12), r"query_embeds must have shape \(batch, queries, 16\), got \(5, 16\)"),
        ((2, 5, 16), (2, 9, 13), r"image_embeds must have shape \(batch, tokens, 12\), got \(2, 9, 13\).*ln_vision"),
        ((1, 5, 16), (2, 9, 12), r"got 1 query sets for 2 images.*expand query_tokens"),
    ],
)
def test_bad_inputs_are_named(queries, image, message):
    model = QFormer(TINY, encoder_width=ENCODER_WIDTH)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(queries), torch.zeros(image))


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="hidden size 18 is not divisible by its 4 heads"):
        QFormer(QFormerConfig(hidden=18, layers=1, heads=4), encoder_width=8)
    with pytest.raises(ValueError, match="cross_attention_freq must be at least 1, got 0"):
        QFormer(QFormerConfig(hidden=16, layers=1, heads=4, cross_attention_freq=0), encoder_width=8)
