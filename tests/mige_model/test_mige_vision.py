"""EVA ViT-g as BLIP-2 builds it: released key names, and the forward pass against a hand-written reference."""

from __future__ import annotations

import math

import pytest
import torch

from mige_model.config import VisionConfig
from mige_model.vision import UNUSED_KEYS, EvaViT, VisionLayerNorm

TINY = VisionConfig(image_size=28, patch_size=7, width=16, depth=2, heads=4, mlp_ratio=2.5, eps=1e-6)


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn at random (the defaults leave biases, cls and pos at zero)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return module


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def reference_forward(state: dict[str, torch.Tensor], images: torch.Tensor, config: VisionConfig) -> torch.Tensor:
    """The LAVIS EVA ViT forward written out with plain tensor ops (float64)."""
    batch, p, width = images.shape[0], config.patch_size, config.width
    grid = config.image_size // p
    # patch (row-major over the grid), each flattened channel-major like a conv kernel
    patches = images.reshape(batch, 3, grid, p, grid, p).permute(0, 2, 4, 1, 3, 5).reshape(batch, grid * grid, -1)
    tokens = patches @ state["patch_embed.proj.weight"].reshape(width, -1).T + state["patch_embed.proj.bias"]
    x = torch.cat([state["cls_token"].expand(batch, 1, width), tokens], dim=1) + state["pos_embed"]
    heads, head_dim = config.heads, width // config.heads
    for n in range(config.depth):
        s = {k[len(f"blocks.{n}.") :]: v for k, v in state.items() if k.startswith(f"blocks.{n}.")}
        h = layer_norm(x, s["norm1.weight"], s["norm1.bias"], config.eps)
        w_q, w_k, w_v = s["attn.qkv.weight"].chunk(3, dim=0)
        q = h @ w_q.T + s["attn.q_bias"]
        k = h @ w_k.T
        v = h @ w_v.T + s["attn.v_bias"]
        split = lambda t: t.reshape(batch, -1, heads, head_dim).transpose(1, 2)  # noqa: E731
        scores = (split(q) * head_dim**-0.5) @ split(k).transpose(-1, -2)
        weights = torch.exp(scores - scores.amax(-1, keepdim=True))
        weights = weights / weights.sum(-1, keepdim=True)
        attended = (weights @ split(v)).transpose(1, 2).reshape(batch, -1, width)
        x = x + attended @ s["attn.proj.weight"].T + s["attn.proj.bias"]
        h = layer_norm(x, s["norm2.weight"], s["norm2.bias"], config.eps)
        hidden = h @ s["mlp.fc1.weight"].T + s["mlp.fc1.bias"]
        hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))
        x = x + hidden @ s["mlp.fc2.weight"].T + s["mlp.fc2.bias"]
    return x


def test_state_dict_keys_are_the_released_names():
    block = [
        "norm1.weight",
        "norm1.bias",
        "attn.q_bias",
        "attn.v_bias",
        "attn.qkv.weight",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ]
    expected = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
    expected |= {f"blocks.{n}.{name}" for n in range(TINY.depth) for name in block}
    assert set(EvaViT(TINY).state_dict()) == expected
    assert UNUSED_KEYS == ()


def test_parameter_shapes_follow_the_config():
    state = EvaViT(TINY).state_dict()
    assert state["pos_embed"].shape == (1, TINY.tokens, 16) == (1, 17, 16)
    assert state["cls_token"].shape == (1, 1, 16)
    assert state["patch_embed.proj.weight"].shape == (16, 3, 7, 7)
    assert state["blocks.0.attn.qkv.weight"].shape == (48, 16)
    assert state["blocks.0.mlp.fc1.weight"].shape == (TINY.mlp_width, 16) == (40, 16)


def test_released_sizes():
    config = VisionConfig()
    assert (config.tokens, config.mlp_width, config.width // config.heads) == (257, 6144, 88)


def test_forward_matches_hand_written_reference_in_float64():
    torch.manual_seed(0)
    model = randomised(EvaViT(TINY)).double().eval()
    images = torch.randn(2, 3, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        out = model(images)
    expected = reference_forward(model.state_dict(), images, TINY)
    assert out.shape == (2, TINY.tokens, TINY.width)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_wrong_image_size_names_the_expected_size():
    model = EvaViT(TINY)
    with pytest.raises(ValueError, match=r"\(batch, 3, 28, 28\).*\(1, 3, 32, 32\).*resize"):
        model(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(batch, 3, 28, 28\)"):
        model(torch.zeros(3, 28, 28))


def test_width_not_divisible_by_heads_is_refused():
    with pytest.raises(ValueError, match="width 18 is not divisible by its 4 heads"):
        EvaViT(VisionConfig(image_size=28, patch_size=7, width=18, depth=1, heads=4))


def test_ln_vision_uses_default_eps_and_float32_internally():
    torch.manual_seed(0)
    norm = randomised(VisionLayerNorm(TINY))
    assert norm.eps == 1e-5 and set(norm.state_dict()) == {"weight", "bias"}
    x = torch.randn(2, 5, 16, dtype=torch.float64) * 3
    expected = layer_norm(x, norm.weight.double(), norm.bias.double(), 1e-5)
    torch.testing.assert_close(norm(x.float()).double(), expected, rtol=1e-5, atol=1e-5)
    half = x.to(torch.bfloat16)
    out = norm(half)
    assert out.dtype == torch.bfloat16
    reference = layer_norm(half.double(), norm.weight.double(), norm.bias.double(), 1e-5).to(torch.bfloat16)
    torch.testing.assert_close(out, reference, rtol=0, atol=0.02)
