"""The feature-fusion module: released key names, identity-like start, and a hand-written reference."""

from __future__ import annotations

import math

import pytest
import torch

from mige_model.config import FusionConfig
from mige_model.fusion import FeatureFusion

CONFIG = FusionConfig(heads=2, eps=1e-6)
DIM, VISUAL_DIM = 8, 6


def layer_norm(x, weight, bias, eps=1e-6):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def reference(s: dict[str, torch.Tensor], x: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """The fusion formula with the attention written out: in_proj split, heads, softmax, out_proj."""

    def linear(t, name, bias=True):
        return t @ s[f"{name}.weight"].T + (s[f"{name}.bias"] if bias else 0)

    def norm(t, name):
        return layer_norm(t, s[f"{name}.weight"], s[f"{name}.bias"])

    q = norm(linear(x, "q_proj_1", bias=False), "ln_q_1")
    k = norm(linear(gelu(linear(v, "k_proj_1.0")), "k_proj_1.2"), "ln_k_1")
    val = norm(linear(gelu(linear(v, "v_proj_1.0")), "v_proj_1.2"), "ln_v_1")
    w_q, w_k, w_v = s["clip_attn.in_proj_weight"].chunk(3)
    b_q, b_k, b_v = s["clip_attn.in_proj_bias"].chunk(3)
    batch, dim = x.shape[0], x.shape[-1]
    head_dim = dim // heads

    def split(t):
        return t.reshape(batch, -1, heads, head_dim).transpose(1, 2)

    qh, kh, vh = split(q @ w_q.T + b_q), split(k @ w_k.T + b_k), split(val @ w_v.T + b_v)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(head_dim)
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    attended = (weights @ vh).transpose(1, 2).reshape(batch, -1, dim)
    a = linear(attended, "clip_attn.out_proj")
    return norm(x + linear(a, "mlp"), "ln_out")


def test_state_dict_keys_are_the_released_names():
    keys = set(FeatureFusion(CONFIG, dim=DIM, visual_dim=VISUAL_DIM).state_dict())
    wb = ("weight", "bias")
    expected = {"q_proj_1.weight", "clip_attn.in_proj_weight", "clip_attn.in_proj_bias"}
    for name in (
        "k_proj_1.0",
        "k_proj_1.2",
        "v_proj_1.0",
        "v_proj_1.2",
        "ln_q_1",
        "ln_k_1",
        "ln_v_1",
        "ln_out",
        "clip_attn.out_proj",
        "mlp",
    ):
        expected |= {f"{name}.{p}" for p in wb}
    assert keys == expected


def test_shapes():
    model = FeatureFusion(CONFIG, dim=DIM, visual_dim=VISUAL_DIM)
    state = model.state_dict()
    assert state["k_proj_1.0.weight"].shape == (DIM, VISUAL_DIM)
    assert state["v_proj_1.2.weight"].shape == (DIM, DIM)
    assert state["clip_attn.in_proj_weight"].shape == (3 * DIM, DIM)
    out = model(torch.randn(3, 4, DIM), torch.randn(3, 10, VISUAL_DIM))
    assert out.shape == (3, 4, DIM)


def test_at_initialisation_output_is_layer_norm_of_queries():
    torch.manual_seed(0)
    model = FeatureFusion(CONFIG, dim=DIM, visual_dim=VISUAL_DIM).eval()
    assert not model.mlp.weight.any() and not model.mlp.bias.any()
    x = torch.randn(2, 4, DIM) * 2 + 1
    with torch.no_grad():
        out = model(x, torch.randn(2, 10, VISUAL_DIM))
    expected = torch.nn.functional.layer_norm(x, (DIM,), torch.ones(DIM), torch.zeros(DIM), eps=1e-6)
    assert torch.equal(out, expected)
    torch.testing.assert_close(out.double(), layer_norm(x.double(), 1.0, 0.0), rtol=1e-6, atol=1e-6)


def test_matches_hand_written_formula_in_float64():
    torch.manual_seed(0)
    model = FeatureFusion(CONFIG, dim=DIM, visual_dim=VISUAL_DIM).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():  # W_o and every LayerNorm affine made non-trivial
            parameter.copy_(0.5 * torch.randn_like(parameter))
    x = torch.randn(2, 4, DIM, dtype=torch.float64)
    v = torch.randn(2, 10, VISUAL_DIM, dtype=torch.float64)
    with torch.no_grad():
        out = model(x, v)
    torch.testing.assert_close(out, reference(model.state_dict(), x, v, CONFIG.heads), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("queries", "visual", "message"),
    [
        ((2, 4, DIM), (2, 10, 7), r"visual tokens must have shape \(batch, tokens, 6\), got \(2, 10, 7\).*VAE"),
        ((2, 4, DIM), (10, VISUAL_DIM), r"visual tokens must have shape \(batch, tokens, 6\), got \(10, 6\)"),
        ((2, 4, 9), (2, 10, VISUAL_DIM), r"queries must have shape \(batch, queries, 8\), got \(2, 4, 9\)"),
        ((2, 4, DIM), (3, 10, VISUAL_DIM), r"queries for 2 images but visual tokens for 3"),
    ],
)
def test_bad_inputs_are_named(queries, visual, message):
    model = FeatureFusion(CONFIG, dim=DIM, visual_dim=VISUAL_DIM)
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(queries), torch.zeros(visual))


def test_dim_not_divisible_by_heads_is_refused():
    with pytest.raises(ValueError, match="fusion dim 9 is not divisible by its 2 heads"):
        FeatureFusion(CONFIG, dim=9, visual_dim=VISUAL_DIM)
