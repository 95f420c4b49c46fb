"""MIGE's PixArt-α DiT against the released key names and an independent float64 numpy reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from mige_model.config import DiTConfig
from mige_model.dit import PixArtDiT, concat_condition

TINY = DiTConfig(
    latent_size=8,
    patch_size=2,
    in_channels=8,
    out_channels=8,
    hidden=32,
    depth=2,
    heads=2,
    mlp_ratio=4.0,
    caption_dim=16,
    caption_tokens=8,
    base_size=4,
)

RELEASED_KEYS_DEPTH_2 = {
    "pos_embed",
    "x_embedder.proj.weight",
    "x_embedder.proj.bias",
    "t_embedder.mlp.0.weight",
    "t_embedder.mlp.0.bias",
    "t_embedder.mlp.2.weight",
    "t_embedder.mlp.2.bias",
    "t_block.1.weight",
    "t_block.1.bias",
    "y_embedder.y_embedding",
    "y_embedder.y_proj.fc1.weight",
    "y_embedder.y_proj.fc1.bias",
    "y_embedder.y_proj.fc2.weight",
    "y_embedder.y_proj.fc2.bias",
    *(
        f"blocks.{n}.{name}"
        for n in range(2)
        for name in (
            "scale_shift_table",
            "attn.qkv.weight",
            "attn.qkv.bias",
            "attn.proj.weight",
            "attn.proj.bias",
            "cross_attn.q_linear.weight",
            "cross_attn.q_linear.bias",
            "cross_attn.kv_linear.weight",
            "cross_attn.kv_linear.bias",
            "cross_attn.proj.weight",
            "cross_attn.proj.bias",
            "mlp.fc1.weight",
            "mlp.fc1.bias",
            "mlp.fc2.weight",
            "mlp.fc2.bias",
        )
    ),
    "final_layer.scale_shift_table",
    "final_layer.linear.weight",
    "final_layer.linear.bias",
}


@pytest.fixture(scope="module")
def model() -> PixArtDiT:
    torch.manual_seed(0)
    return PixArtDiT(TINY).eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two samples: a padded caption (kept prefix) and a caption with a hole (kept tokens 0, 2, 3)."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 8, 8, generator=generator)
    timestep = torch.tensor([3.5, 41.25])
    caption = torch.randn(2, 5, TINY.caption_dim, generator=generator)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0]])
    return x, timestep, caption, mask


# ----------------------------------------------------------------- independent float64 reference


def layer_norm(x: np.ndarray, eps: float) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1 + np.exp(-x))


def softmax_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.zeros((q.shape[0], v.shape[1]))
    for i in range(q.shape[0]):
        scores = k @ q[i] / math.sqrt(q.shape[1])
        weights = np.exp(scores - scores.max())
        out[i] = (weights / weights.sum()) @ v
    return out


def multi_head(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int) -> np.ndarray:
    """Head s uses feature columns [s·d, (s+1)·d) of q, k and v; outputs are concatenated in head order."""
    d = q.shape[1] // heads
    return np.concatenate(
        [
            softmax_attention(q[:, s * d : (s + 1) * d], k[:, s * d : (s + 1) * d], v[:, s * d : (s + 1) * d])
            for s in range(heads)
        ],
        axis=1,
    )


def reference_forward(state: dict[str, torch.Tensor], x, timestep, caption, mask) -> np.ndarray:
    """PixArt's forward written out per sample and per head; cross-attention keys are *packed* (only
    tokens with mask != 0), as PixArt's xformers path does."""
    w = {name: value.double().numpy() for name, value in state.items()}
    c = TINY
    x, caption, mask = x.double().numpy(), caption.double().numpy(), mask.numpy()
    p, grid, hidden, heads = c.patch_size, c.latent_size // c.patch_size, c.hidden, c.heads

    def linear(v: np.ndarray, name: str) -> np.ndarray:
        return v @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    outputs = []
    for b in range(x.shape[0]):
        cells = [(i, j) for i in range(grid) for j in range(grid)]
        patches = np.stack([x[b, :, i * p : (i + 1) * p, j * p : (j + 1) * p].reshape(-1) for i, j in cells])
        h = patches @ w["x_embedder.proj.weight"].reshape(hidden, -1).T + w["x_embedder.proj.bias"] + w["pos_embed"][0]
        half = 128
        freqs = np.exp(-math.log(10000) * np.arange(half) / half)
        features = np.concatenate([np.cos(float(timestep[b]) * freqs), np.sin(float(timestep[b]) * freqs)])
        t = linear(silu(linear(features, "t_embedder.mlp.0")), "t_embedder.mlp.2")
        t0 = linear(silu(t), "t_block.1").reshape(6, hidden)
        y = linear(gelu_tanh(linear(caption[b], "y_embedder.y_proj.fc1")), "y_embedder.y_proj.fc2")
        y = y[mask[b] != 0]
        for n in range(c.depth):
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = w[f"blocks.{n}.scale_shift_table"] + t0
            qkv = linear(layer_norm(h, c.eps) * (1 + scale_msa) + shift_msa, f"blocks.{n}.attn.qkv")
            q, k, v = qkv[:, :hidden], qkv[:, hidden : 2 * hidden], qkv[:, 2 * hidden :]
            h = h + gate_msa * linear(multi_head(q, k, v, heads), f"blocks.{n}.attn.proj")
            q = linear(h, f"blocks.{n}.cross_attn.q_linear")
            kv = linear(y, f"blocks.{n}.cross_attn.kv_linear")
            k, v = kv[:, :hidden], kv[:, hidden:]
            h = h + linear(multi_head(q, k, v, heads), f"blocks.{n}.cross_attn.proj")
            mlp_in = layer_norm(h, c.eps) * (1 + scale_mlp) + shift_mlp
            h = h + gate_mlp * linear(gelu_tanh(linear(mlp_in, f"blocks.{n}.mlp.fc1")), f"blocks.{n}.mlp.fc2")
        shift, scale = w["final_layer.scale_shift_table"] + t
        out = linear(layer_norm(h, c.eps) * (1 + scale) + shift, "final_layer.linear")
        image = np.zeros((c.out_channels, c.latent_size, c.latent_size))
        for i in range(grid):
            for j in range(grid):
                for pi in range(p):
                    for qj in range(p):
                        for ch in range(c.out_channels):
                            image[ch, i * p + pi, j * p + qj] = out[i * grid + j, (pi * p + qj) * c.out_channels + ch]
        outputs.append(image)
    return np.stack(outputs)


# ----------------------------------------------------------------- tests


def test_state_dict_keys_are_the_released_names(model):
    state = model.state_dict()
    assert set(state) == RELEASED_KEYS_DEPTH_2
    assert state["x_embedder.proj.weight"].shape == (32, 8, 2, 2)
    assert state["pos_embed"].shape == (1, 16, 32)
    assert state["t_embedder.mlp.0.weight"].shape == (32, 256)
    assert state["t_block.1.weight"].shape == (6 * 32, 32)
    assert state["y_embedder.y_embedding"].shape == (8, 16)
    assert state["y_embedder.y_proj.fc1.weight"].shape == (32, 16)
    assert state["blocks.1.scale_shift_table"].shape == (6, 32)
    assert state["blocks.0.cross_attn.kv_linear.weight"].shape == (64, 32)
    assert state["blocks.0.mlp.fc1.weight"].shape == (128, 32)
    assert state["final_layer.scale_shift_table"].shape == (2, 32)
    assert state["final_layer.linear.weight"].shape == (2 * 2 * 8, 32)


@pytest.mark.parametrize(("base_size", "pe_interpolation"), [(4, 1.0), (32, 1.0), (2, 2.0)])
def test_pos_embed_is_the_2d_sincos_formula(base_size, pe_interpolation):
    config = dataclasses.replace(TINY, base_size=base_size, pe_interpolation=pe_interpolation)
    model = PixArtDiT(config)
    grid, dim = 4, 32
    quarter = dim // 4
    expected = np.zeros((grid * grid, dim))
    for row in range(grid):
        for col in range(grid):
            for axis, position in enumerate((col, row)):  # first half: column, second half: row
                scaled = position * base_size / grid / pe_interpolation
                for k in range(quarter):
                    angle = scaled / 10000 ** (k / quarter)
                    expected[row * grid + col, axis * 2 * quarter + k] = math.sin(angle)
                    expected[row * grid + col, axis * 2 * quarter + quarter + k] = math.cos(angle)
    np.testing.assert_allclose(model.pos_embed[0].double().numpy(), expected, atol=1e-6)


def test_timestep_embedding_matches_numpy(model):
    timestep = torch.tensor([0.0, 1.5, 250.25, 999.0])
    half = 128
    freqs = np.exp(-math.log(10000) * np.arange(half) / half)
    angles = timestep.double().numpy()[:, None] * freqs[None]
    features = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    w = {k: v.double().numpy() for k, v in model.t_embedder.state_dict().items()}
    hidden = features @ w["mlp.0.weight"].T + w["mlp.0.bias"]
    expected = silu(hidden) @ w["mlp.2.weight"].T + w["mlp.2.bias"]
    with torch.no_grad():
        got = model.t_embedder(timestep).double().numpy()
    # float32 angles near 999 carry ~1e-4 absolute rounding, as in the authors' float32 computation
    np.testing.assert_allclose(got, expected, atol=5e-5)


@pytest.mark.parametrize("null", [False, True], ids=["t5_caption", "null_caption"])
def test_forward_matches_float64_reference(model, null):
    x, timestep, caption, mask = inputs()
    if null:
        caption, mask = model.null_caption(2), torch.tensor([[1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        got = model(x, timestep, caption, mask)
    assert got.shape == (2, 8, 8, 8) and got.dtype == torch.float32
    expected = reference_forward(model.state_dict(), x, timestep, caption, mask)
    np.testing.assert_allclose(got.double().numpy(), expected, atol=1e-5, rtol=0)


def test_padded_caption_tokens_have_no_effect(model):
    x, timestep, caption, mask = inputs()
    changed = caption.clone()
    changed[mask == 0] = 1000.0 * torch.randn(int((mask == 0).sum()), TINY.caption_dim)
    with torch.no_grad():
        base = model(x, timestep, caption, mask)
        torch.testing.assert_close(model(x, timestep, changed, mask), base, rtol=0, atol=1e-6)
        # packing the kept tokens (PixArt's layout) gives the same result as masking
        packed = torch.stack([caption[0, [0, 1, 2]], caption[1, [0, 2, 3]]])
        torch.testing.assert_close(model(x, timestep, packed, torch.ones(2, 3)), base, rtol=0, atol=1e-5)


def test_embed_patches_is_the_patch_projection_without_position(model):
    latent = torch.randn(3, 8, 8, 8, generator=torch.Generator().manual_seed(2))
    w = model.x_embedder.proj.weight.detach().double().numpy().reshape(32, -1)
    bias = model.x_embedder.proj.bias.detach().double().numpy()
    lat = latent.double().numpy()
    cells = [(i, j) for i in range(4) for j in range(4)]
    expected = np.stack(
        [
            np.stack([lat[b, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(-1) @ w.T + bias for i, j in cells])
            for b in range(3)
        ]
    )
    with torch.no_grad():
        got = model.embed_patches(latent)
    np.testing.assert_allclose(got.double().numpy(), expected, atol=1e-5)


def test_null_caption_is_the_learned_embedding(model):
    null = model.null_caption(3)
    assert null.shape == (3, TINY.caption_tokens, TINY.caption_dim)
    assert all(torch.equal(row, model.y_embedder.y_embedding) for row in null)


def test_concat_condition():
    noisy = torch.randn(2, 4, 8, 8)
    blank = concat_condition(noisy, None)
    assert blank.shape == (2, 8, 8, 8)
    assert torch.equal(blank[:, :4], noisy) and not blank[:, 4:].any()
    source = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    joined = concat_condition(noisy, source)
    assert joined.dtype == torch.float32
    assert torch.equal(joined[:, 4:], source.float()) and torch.equal(joined[:, :4], noisy)


def test_concat_condition_rejects_mismatched_latents():
    with pytest.raises(ValueError, match=r"\(4, 4\) \(H×W\) but the noisy latent is \(8, 8\)"):
        concat_condition(torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4))
    with pytest.raises(ValueError, match=r"batch×channels \(2, 4\) but the noisy latent has \(1, 4\)"):
        concat_condition(torch.zeros(1, 4, 8, 8), torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError, match="noisy latent must be B×C×H×W"):
        concat_condition(torch.zeros(4, 8, 8), None)


def test_bfloat16_forward_is_close_to_float32(model):
    x, timestep, caption, mask = inputs()
    half = PixArtDiT(TINY)
    half.load_state_dict(model.state_dict())
    half = half.to(torch.bfloat16).eval()
    with torch.no_grad():
        full = model(x, timestep, caption, mask)
        got = half(x, timestep, caption, mask)
    assert got.dtype == torch.bfloat16
    assert torch.isfinite(got).all()
    error = (got.float() - full).abs().max() / full.abs().max()
    assert error < 0.05


def test_bad_inputs_are_rejected_with_clear_messages(model):
    x, timestep, caption, mask = inputs()
    with pytest.raises(ValueError, match="x has 4 channels but the DiT takes 8: concatenate .* concat_condition"):
        model(x[:, :4], timestep, caption, mask)
    with pytest.raises(ValueError, match=r"x is \(16, 16\) \(H×W\) but .* 8×8 latents"):
        model(torch.zeros(2, 8, 16, 16), timestep, caption, mask)
    with pytest.raises(ValueError, match=r"caption must be 2×L×16 .* got shape \(2, 5, 12\)"):
        model(x, timestep, caption[..., :12], mask)
    with pytest.raises(ValueError, match=r"caption_mask must have shape \(2, 5\)"):
        model(x, timestep, caption, mask[:, :4])
    with pytest.raises(ValueError, match=r"all zero for sample\(s\) \[1\]: cross-attention would attend to nothing"):
        model(x, timestep, caption, torch.tensor([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"timestep must have shape \(2,\)"):
        model(x, timestep[:1], caption, mask)
    with pytest.raises(ValueError, match="latent has 4 channels but the DiT takes 8"):
        model.embed_patches(torch.zeros(1, 4, 8, 8))


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="hidden size 30 is not divisible by its 4 heads"):
        PixArtDiT(dataclasses.replace(TINY, hidden=30, heads=4))
    with pytest.raises(ValueError, match="divisible by 4 for the 2-D sin-cos embedding, got 34"):
        PixArtDiT(dataclasses.replace(TINY, hidden=34))
    with pytest.raises(ValueError, match="latent size 9 is not divisible by patch size 2"):
        PixArtDiT(dataclasses.replace(TINY, latent_size=9))
