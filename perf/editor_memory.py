"""GPU memory of the editors' weights in each memory mode, computed from parameter counts (not measured).

Each model's components are built on PyTorch's ``meta`` device from their published configurations (diffusers'
default transformer configs are the released models'; the text encoders' are written out below from the
released ``config.json`` files), so the counts cost no memory and no download. The transformers of FLUX.2
[klein] and LongCat-Image-Edit are not written here (diffusers' LongCat default is FLUX.1's shape, 11.9B, not
the released 6B): their counts are the published sizes (klein 4B / 9B, LongCat 6B), and their largest layer is
taken from FLUX.2 [dev] / FLUX.1 (an upper bound). Weight memory per mode:

- ``bf16``: every weight on the GPU in bf16 (2 bytes);
- ``cpu_offload``: diffusers' model offload keeps one component on the GPU at a time: the largest, in bf16;
- ``group_offload``: leaf-level offload with a CUDA stream keeps the running layer and the prefetched next one:
  twice the largest leaf module, in bf16;
- ``bnb-8bit`` / ``bnb-4bit``: the adapter's ``quantizable`` components at 1 byte / 0.5625 byte per weight (NF4:
  4 bits plus an fp32 scale per 64 weights), the rest in bf16, all on the GPU.

Activations come on top (a few GB at one megapixel, more for the multi-image models), so a measured peak is
higher. Usage: ``python perf/editor_memory.py`` (prints a Markdown table).
"""

from __future__ import annotations

import contextlib

GIB = 1024**3


def count(module) -> tuple[int, int]:
    """(parameters, parameters of the largest leaf module)."""
    leaves = [m for m in module.modules() if not list(m.children())]
    largest = max((sum(p.numel() for p in m.parameters(recurse=False)) for m in leaves), default=0)
    return sum(p.numel() for p in module.parameters()), largest


@contextlib.contextmanager
def meta():
    import torch

    with torch.device("meta"):
        yield


def t5_xxl():
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=32128,
            d_model=4096,
            d_kv=64,
            d_ff=10240,
            num_layers=24,
            num_heads=64,
            feed_forward_proj="gated-gelu",
        )
    )


def clip_text(hidden, layers, heads, intermediate, projection=None):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        projection_dim=projection or hidden,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def qwen25_vl_7b():
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(
            text_config={
                "hidden_size": 3584,
                "intermediate_size": 18944,
                "num_hidden_layers": 28,
                "num_attention_heads": 28,
                "num_key_value_heads": 4,
                "vocab_size": 152064,
            },
            vision_config={
                "depth": 32,
                "hidden_size": 1280,
                "intermediate_size": 3420,
                "num_heads": 16,
                "out_hidden_size": 3584,
            },
            vocab_size=152064,
        )
    )


def mistral_small_24b():
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    return Mistral3ForConditionalGeneration(
        Mistral3Config(
            text_config={
                "model_type": "mistral",
                "vocab_size": 131072,
                "hidden_size": 5120,
                "intermediate_size": 32768,
                "num_hidden_layers": 40,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "head_dim": 128,
            },
            vision_config={
                "model_type": "pixtral",
                "hidden_size": 1024,
                "num_hidden_layers": 24,
                "num_attention_heads": 16,
                "intermediate_size": 4096,
                "image_size": 1540,
                "patch_size": 14,
            },
            spatial_merge_size=2,
        )
    )


def qwen3(hidden, layers, intermediate, tied):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=151936,
            hidden_size=hidden,
            intermediate_size=intermediate,
            num_hidden_layers=layers,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            tie_word_embeddings=tied,
        )
    )


def flux1_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )


def models():
    """name -> (components {name: (params, largest leaf)}, quantizable component names)."""
    import diffusers

    def built(**factories):
        with meta():
            return {name: count(factory()) for name, factory in factories.items()}

    flux1 = built(
        transformer=diffusers.FluxTransformer2DModel,
        text_encoder_2=t5_xxl,
        text_encoder=lambda: clip_text(768, 12, 12, 3072),
        vae=flux1_vae,
    )
    qwen = built(
        transformer=diffusers.QwenImageTransformer2DModel,
        text_encoder=qwen25_vl_7b,
        vae=diffusers.AutoencoderKLQwenImage,
    )
    flux2 = built(
        transformer=diffusers.Flux2Transformer2DModel, text_encoder=mistral_small_24b, vae=diffusers.AutoencoderKLFlux2
    )
    klein_te = built(
        text_encoder_4b=lambda: qwen3(2560, 36, 9728, True),
        text_encoder_9b=lambda: qwen3(4096, 36, 12288, False),
        vae=diffusers.AutoencoderKLFlux2,
    )
    longcat = built(text_encoder=qwen25_vl_7b, vae=flux1_vae)
    sd3 = built(
        transformer=lambda: diffusers.SD3Transformer2DModel(
            sample_size=128,
            patch_size=2,
            in_channels=48,
            out_channels=16,
            num_layers=24,
            attention_head_dim=64,
            num_attention_heads=24,
            joint_attention_dim=4096,
            caption_projection_dim=1536,
            pooled_projection_dim=2048,
            pos_embed_max_size=192,
        ),
        text_encoder=lambda: clip_text(768, 12, 12, 3072, projection=768),
        text_encoder_2=lambda: clip_text(1280, 32, 20, 5120, projection=1280),
        text_encoder_3=t5_xxl,
        vae=lambda: diffusers.AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=16,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
        ),
    )
    # klein's and LongCat's transformers: the published sizes (see the module docstring)
    largest_flux2 = flux2["transformer"][1]
    return {
        "flux-kontext (FLUX.1 Kontext [dev])": (flux1, ("transformer", "text_encoder_2")),
        "qwen-image-edit, qwen-image-edit-plus": (qwen, ("transformer", "text_encoder")),
        "flux2 (FLUX.2 [dev])": (flux2, ("transformer", "text_encoder")),
        "flux2-klein (4B)": (
            {
                "transformer": (4_000_000_000, largest_flux2),
                "text_encoder": klein_te["text_encoder_4b"],
                "vae": klein_te["vae"],
            },
            ("transformer", "text_encoder"),
        ),
        "flux2-klein (9B)": (
            {
                "transformer": (9_000_000_000, largest_flux2),
                "text_encoder": klein_te["text_encoder_9b"],
                "vae": klein_te["vae"],
            },
            ("transformer", "text_encoder"),
        ),
        "longcat-image-edit": (
            {"transformer": (6_000_000_000, flux1["transformer"][1]), **longcat},
            ("transformer", "text_encoder"),
        ),
        "ultraedit (SD3 Medium, w_mask)": (sd3, ("transformer", "text_encoder_3")),
    }


def modes(components: dict, quantizable: tuple[str, ...]) -> dict[str, float]:
    total = sum(n for n, _ in components.values())
    quantized = sum(components[c][0] for c in quantizable)
    rest = total - quantized
    return {
        "bf16": 2 * total / GIB,
        "cpu_offload": 2 * max(n for n, _ in components.values()) / GIB,
        "group_offload": 2 * 2 * max(leaf for _, leaf in components.values()) / GIB,
        "bnb-8bit": (quantized * 1 + rest * 2) / GIB,
        "bnb-4bit": (quantized * 0.5625 + rest * 2) / GIB,
    }


def main() -> None:
    print("| model | parameters (B): components | bf16 | cpu_offload | group_offload | bnb-8bit | bnb-4bit |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, (components, quantizable) in models().items():
        parts = ", ".join(f"{c} {n / 1e9:.2f}" for c, (n, _) in components.items())
        row = modes(components, quantizable)
        print(f"| {name} | {parts} | " + " | ".join(f"{v:.1f}" for v in row.values()) + " |")
    print("\nGiB of weights on the GPU, computed from parameter counts; activations come on top.")


if __name__ == "__main__":
    main()
