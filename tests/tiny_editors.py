"""Tiny randomly initialised pipelines of today's editors, saved the way their hubs lay them out.

FLUX.1 Kontext, Qwen-Image-Edit (single and Plus), FLUX.2 [dev] and [klein], LongCat-Image-Edit and UltraEdit
(SD3), each built from its real component classes (Flux/Qwen/Flux2/LongCat/SD3 transformers, their VAEs,
Qwen2.5-VL, Mistral3, Qwen3, T5 and CLIP text encoders, their tokenizers and processors) with hidden sizes of
8-48 and one block each, then written with ``save_pretrained``. The text encoders keep as many layers as the
pipelines read hidden states from (FLUX.2 stacks layers 10/20/30, klein 9/18/27), the VAEs their real
downsampling factor, so the pipelines' size arithmetic is the real one (Qwen's VAE downsamples 16 instead of 8,
which changes no size: see ``_qwen_vae``). Several of these pipelines resize every input to about a megapixel
whatever its size, so the VAEs drop the layers that are slow at that size on a CPU (ResNet blocks, mid-block
attention) and the transformers run one attention head.

Without torchvision, transformers 5 cannot build ``Qwen2VLProcessor`` (its video processor needs it) nor import
``PixtralProcessor``, so the Qwen, LongCat and FLUX.2 folders are written through the adapters' torchvision-free
processors (``mige_eval.baselines._processors``) and their ``model_index.json`` / ``processor_config.json`` then
name ``Qwen2VLProcessor`` / ``PixtralProcessor``, as the published checkpoints do.
"""

from __future__ import annotations

import json
from pathlib import Path

import tiny_tokenizers

SEED = 0


def _manual_seed():
    import torch

    torch.manual_seed(SEED)


def _kl_vae(latent_channels: int, *, shift_factor: float = 0.1159, scaling_factor: float = 0.3611):
    """FLUX.1 / SD3-style ``AutoencoderKL`` (FLUX.1's latent shift and scale by default): four blocks, downsampling
    8 as the real ones.

    No encoder ResNet layers and no mid-block attention: Kontext and LongCat encode about a megapixel per input
    whatever its size, and these are what makes that slow on a CPU.
    """
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(4, 4, 4, 4),
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        norm_num_groups=2,
        layers_per_block=0,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
        mid_block_add_attention=False,
        shift_factor=shift_factor,
        scaling_factor=scaling_factor,
    )


def _qwen25_vl(tokenizer, hidden: int = 16, layers: int = 1):
    """A ``Qwen2_5_VLForConditionalGeneration`` whose special-token ids are the tiny tokenizer's."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = dict(
        zip(
            tiny_tokenizers.QWEN_SPECIAL_TOKENS,
            tokenizer.convert_tokens_to_ids(list(tiny_tokenizers.QWEN_SPECIAL_TOKENS)),
        )
    )
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": hidden,
            "intermediate_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "vocab_size": len(tokenizer),
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1e6,
            "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [0],
        },
        vocab_size=len(tokenizer),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def _qwen_processor(tokenizer):
    """A tokenizer-and-image Qwen2-VL processor; its image side is capped at 56 x 56 pixels (16 patches)."""
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    from mige_eval.baselines._processors import still_image_processor_class

    image_processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=56 * 56)
    return still_image_processor_class()(image_processor=image_processor, tokenizer=tokenizer)


def _name_the_hub_processor(folder: Path, component: str, processor_class: str, **config_entries) -> None:
    """Make ``model_index.json`` and the processor config name ``processor_class``, as the hub checkpoints do."""
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index[component] = ["transformers", processor_class]
    index_path.write_text(json.dumps(index, indent=2))
    config_path = folder / component / "processor_config.json"
    config = json.loads(config_path.read_text())
    config.update(processor_class=processor_class, **config_entries)
    config_path.write_text(json.dumps(config, indent=2))


def _t5_encoder(tokenizer):
    """A one-layer T5 encoder (width 16) for the tiny tokenizer: the text encoder FLUX.1 and SD3 share."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=16,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            relative_attention_num_buckets=8,
        )
    )


def save_tiny_kontext(folder: Path) -> Path:
    """Like ``black-forest-labs/FLUX.1-Kontext-dev``: CLIP + T5 text encoders, guidance-distilled Flux transformer."""
    _manual_seed()
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel

    clip_tokenizer = tiny_tokenizers.clip_tokenizer()
    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(clip_tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=clip_tokenizer.bos_token_id,
            eos_token_id=clip_tokenizer.eos_token_id,
            pad_token_id=clip_tokenizer.pad_token_id,
        )
    )
    t5_tokenizer = tiny_tokenizers.t5_tokenizer()
    t5 = _t5_encoder(t5_tokenizer)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=1,
        joint_attention_dim=16,
        pooled_projection_dim=16,
        guidance_embeds=True,
        axes_dims_rope=(2, 2, 4),
    )
    pipe = FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
            shift=3.0,
        ),
        vae=_kl_vae(latent_channels=4),
        text_encoder=clip,
        tokenizer=clip_tokenizer,
        text_encoder_2=t5,
        tokenizer_2=t5_tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def _qwen_vae():
    """``AutoencoderKLQwenImage`` downsampling 16 (four stages; the real one: 8, three stages), no ResNet blocks.

    The Qwen pipelines resize every input to about one megapixel whatever its size; a factor of 16 quarters the
    image tokens (and the VAE's attention) while leaving every size the same, since Qwen rounds sizes to 32, and
    the causal 3-D convolutions of the ResNet blocks are what makes a megapixel slow on a CPU.
    """
    from diffusers import AutoencoderKLQwenImage

    return AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=4,
        dim_mult=[1, 1, 1, 1, 1],
        num_res_blocks=0,
        temperal_downsample=[False, True, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )


def save_tiny_qwen_edit(folder: Path, *, plus: bool) -> Path:
    """Like ``Qwen/Qwen-Image-Edit`` (``plus=False``) or ``-2509`` / ``-2511`` (``plus=True``)."""
    _manual_seed()
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPipeline,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )

    tokenizer = tiny_tokenizers.qwen2_tokenizer()
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=1,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(2, 2, 4),
    )
    pipeline_class = QwenImageEditPlusPipeline if plus else QwenImageEditPipeline
    pipe = pipeline_class(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=0.9,
            base_image_seq_len=256,
            max_image_seq_len=8192,
            shift=1.0,
        ),
        vae=_qwen_vae(),
        text_encoder=_qwen25_vl(tokenizer),
        tokenizer=tokenizer,
        processor=_qwen_processor(tokenizer),
        transformer=transformer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _name_the_hub_processor(folder, "processor", "Qwen2VLProcessor")
    return folder


def _flux2_vae():
    """``AutoencoderKLFlux2`` downsampling 8 (four blocks), 2 x 2 latent patches as the real one."""
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=0,
        latent_channels=2,
        norm_num_groups=2,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
        mid_block_add_attention=False,
    )


def _flux2_transformer(text_hidden: int):
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1,
        in_channels=8,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=1,
        joint_attention_dim=3 * text_hidden,
        timestep_guidance_channels=16,
        axes_dims_rope=(2, 2, 2, 2),
    )


def save_tiny_flux2(folder: Path) -> Path:
    """Like ``black-forest-labs/FLUX.2-dev``: Mistral3 (Pixtral) text encoder, 30 layers for hidden states 10/20/30."""
    _manual_seed()
    from diffusers import FlowMatchEulerDiscreteScheduler, Flux2Pipeline
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration
    from transformers.models.pixtral import PixtralImageProcessorPil

    from mige_eval.baselines._processors import text_chat_processor_class

    image_tokens = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")
    tokenizer = tiny_tokenizers.llama_tokenizer(extra_special_tokens=image_tokens)
    tokenizer.add_special_tokens({"pad_token": "<pad>"})  # Mistral's tokenizer pads with <pad>
    processor = text_chat_processor_class()(tokenizer=tokenizer, chat_template=tiny_tokenizers.MISTRAL_CHAT_TEMPLATE)
    hidden = 16
    config = Mistral3Config(
        text_config={
            "model_type": "mistral",
            "vocab_size": len(tokenizer),
            "hidden_size": hidden,
            "intermediate_size": hidden,
            "max_position_embeddings": 1024,
            "num_attention_heads": 2,
            "num_hidden_layers": 30,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "sliding_window": None,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "model_type": "pixtral",
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "image_size": 64,
            "patch_size": 8,
            "head_dim": 8,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        vision_feature_layer=-1,
        spatial_merge_size=2,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    pipe = Flux2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_flux2_vae(),
        text_encoder=Mistral3ForConditionalGeneration(config),
        tokenizer=processor,
        transformer=_flux2_transformer(hidden),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    image_processor = PixtralImageProcessorPil(patch_size=8, size={"longest_edge": 64}).to_dict()
    image_processor["image_processor_type"] = "PixtralImageProcessor"
    _name_the_hub_processor(
        folder, "tokenizer", "PixtralProcessor", image_processor=image_processor, patch_size=8, spatial_merge_size=2
    )
    return folder


def save_tiny_flux2_klein(folder: Path) -> Path:
    """Like ``black-forest-labs/FLUX.2-klein-4B``: Qwen3 text encoder (27 layers: hidden states 9/18/27), distilled."""
    _manual_seed()
    from diffusers import FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = tiny_tokenizers.qwen2_tokenizer(chat_template=tiny_tokenizers.QWEN3_CHAT_TEMPLATE)
    hidden = 16
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=hidden,
            num_hidden_layers=27,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=1024,
        )
    )
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_flux2_vae(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=_flux2_transformer(hidden),
        is_distilled=True,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def save_tiny_longcat_edit(folder: Path) -> Path:
    """Like ``meituan-longcat/LongCat-Image-Edit``: Qwen2.5-VL text encoder, LongCat transformer, 16-channel VAE."""
    _manual_seed()
    from diffusers import FlowMatchEulerDiscreteScheduler, LongCatImageEditPipeline, LongCatImageTransformer2DModel

    tokenizer = tiny_tokenizers.qwen2_tokenizer()
    hidden = 16
    transformer = LongCatImageTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=8,
        num_attention_heads=1,
        joint_attention_dim=hidden,
        pooled_projection_dim=hidden,
        axes_dims_rope=[2, 2, 4],
    )
    pipe = LongCatImageEditPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
            shift=3.0,
        ),
        vae=_kl_vae(latent_channels=16),
        text_encoder=_qwen25_vl(tokenizer, hidden=hidden),
        tokenizer=tokenizer,
        text_processor=_qwen_processor(tokenizer),
        transformer=transformer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    _name_the_hub_processor(folder, "text_processor", "Qwen2VLProcessor")
    return folder


def save_tiny_ultraedit(folder: Path, *, mask: bool = True) -> Path:
    """Like ``BleachNick/SD3_UltraEdit_w_mask`` (``mask=False``: ``_freeform``): SD3 parts whose transformer takes
    noise, source and mask latents on channels, saved under the fork's pipeline name as the hub folder is."""
    _manual_seed()
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from mige_eval.baselines.ultraedit import ultraedit_pipeline_class

    clip_tokenizer = tiny_tokenizers.clip_tokenizer()

    def clip():
        return CLIPTextModelWithProjection(
            CLIPTextConfig(
                vocab_size=len(clip_tokenizer),
                hidden_size=8,
                intermediate_size=16,
                num_hidden_layers=2,
                num_attention_heads=2,
                max_position_embeddings=77,
                projection_dim=8,
                bos_token_id=clip_tokenizer.bos_token_id,
                eos_token_id=clip_tokenizer.eos_token_id,
                pad_token_id=clip_tokenizer.pad_token_id,
            )
        )

    t5_tokenizer = tiny_tokenizers.t5_tokenizer()
    t5 = _t5_encoder(t5_tokenizer)
    latent = 4
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=latent * (3 if mask else 2),
        out_channels=latent,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=1,
        joint_attention_dim=16,
        caption_projection_dim=8,
        pooled_projection_dim=16,
        pos_embed_max_size=32,
    )
    pipe = ultraedit_pipeline_class()(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=_kl_vae(latent, shift_factor=0.0609, scaling_factor=1.5305),
        text_encoder=clip(),
        tokenizer=clip_tokenizer,
        text_encoder_2=clip(),
        tokenizer_2=clip_tokenizer,
        text_encoder_3=t5,
        tokenizer_3=t5_tokenizer,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = "StableDiffusion3InstructPix2PixPipeline"  # the fork's pipeline, absent from diffusers
    index_path.write_text(json.dumps(index, indent=2))
    return folder
