"""Tiny randomly initialised pipelines of the real checkpoints' component classes, saved like a hub repo.

Each fixture builds its pipeline once per session from configs (hidden sizes 8-32, one to four blocks),
saves it with ``save_pretrained`` (safetensors) and returns the directory, which the tests pass to the
adapters as ``model_id`` — the public path a user's local copy of the weights takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tiny_tokenizers
from mige_eval.baselines._diffusers import deprecated_pipeline_alias

SEED = 0


def _torch():
    import torch

    torch.manual_seed(SEED)
    return torch


def _pipeline_module(pipeline_class):
    """The module defining a pipeline, which imports its special components (their home moved across
    diffusers versions: ``pipelines/<name>`` then ``pipelines/deprecated/<name>``)."""
    import importlib

    return importlib.import_module(pipeline_class.__module__)


def _unet(in_channels: int, cross_attention_dim: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=4,
        norm_num_groups=4,
    )


def _vae(blocks: int = 2):
    """Downsamples by 2 ** (blocks - 1); OmniGen's processor assumes the real 8 (4 blocks)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 16, 16, 16)[:blocks],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        sample_size=32,
    )


def _clip_text_config(tokenizer, hidden: int = 16):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=hidden,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _clip_tokenizer():
    tokenizer = tiny_tokenizers.clip_tokenizer()
    tokenizer.model_max_length = 77  # as in openai/clip-vit-large-patch14
    return tokenizer


def _clip_vision_config(hidden: int = 16, layers: int = 1):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=hidden,
    )


def _safety_parts():
    """A tiny ``StableDiffusionSafetyChecker`` and its ``CLIPImageProcessor``, as the SD checkpoints ship them."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    config = CLIPConfig(
        text_config=_clip_text_config(_clip_tokenizer()).to_dict(),
        vision_config=_clip_vision_config().to_dict(),
        projection_dim=16,
    )
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return StableDiffusionSafetyChecker(config), processor


@pytest.fixture(scope="session")
def ip2p_dir(tmp_path_factory) -> Path:
    """Like ``timbrooks/instruct-pix2pix``: 8-channel UNet, CLIP text encoder, safety checker, PNDM scheduler."""
    _torch()
    from diffusers import PNDMScheduler, StableDiffusionInstructPix2PixPipeline
    from transformers import CLIPTextModel

    tokenizer = _clip_tokenizer()
    checker, processor = _safety_parts()
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_clip_text_config(tokenizer)),
        tokenizer=tokenizer,
        unet=_unet(8, 16),
        scheduler=PNDMScheduler(skip_prk_steps=True),
        safety_checker=checker,
        feature_extractor=processor,
    )
    path = tmp_path_factory.mktemp("tiny") / "instruct-pix2pix"
    pipe.save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture(scope="session")
def paint_by_example_dir(tmp_path_factory) -> Path:
    """Like ``Fantasy-Studio/Paint-by-Example``: CLIP-vision example encoder (4 layers, so its mapper has a
    block: (layers + 1) // 5), 9-channel inpainting UNet."""
    _torch()
    from diffusers import PaintByExamplePipeline, PNDMScheduler

    PaintByExampleImageEncoder = _pipeline_module(PaintByExamplePipeline).PaintByExampleImageEncoder
    checker, processor = _safety_parts()
    with deprecated_pipeline_alias(PaintByExamplePipeline):  # saves the hub layout of model_index.json
        pipe = PaintByExamplePipeline(
            vae=_vae(),
            image_encoder=PaintByExampleImageEncoder(_clip_vision_config(layers=4), proj_size=16),
            unet=_unet(9, 16),
            scheduler=PNDMScheduler(skip_prk_steps=True),
            safety_checker=checker,
            feature_extractor=processor,
        )
    path = tmp_path_factory.mktemp("tiny") / "paint-by-example"
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def _blip_diffusion(tmp: Path):
    from diffusers import BlipDiffusionPipeline, PNDMScheduler
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig

    bert_dir = tiny_tokenizers.save(tiny_tokenizers.bert_tokenizer(), tmp / "bert-tokenizer")
    tokenizer = _clip_tokenizer()
    vision = Blip2VisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8
    )
    qformer = Blip2QFormerConfig(
        vocab_size=len(tiny_tokenizers.bert_tokenizer()) + 1,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        encoder_hidden_size=16,
        max_position_embeddings=64,
    )
    config = Blip2Config(
        vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), num_query_tokens=4, tokenizer=str(bert_dir)
    )
    module = _pipeline_module(BlipDiffusionPipeline)
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    with deprecated_pipeline_alias(BlipDiffusionPipeline):  # saves the hub layout of model_index.json
        return BlipDiffusionPipeline(
            tokenizer=tokenizer,
            text_encoder=module.ContextCLIPTextModel(_clip_text_config(tokenizer)),
            vae=_vae(),
            unet=_unet(4, 16),
            scheduler=PNDMScheduler(skip_prk_steps=True),
            qformer=module.Blip2QFormerModel(config),
            ctx_begin_pos=2,
            mean=mean,
            std=std,
            image_processor=module.BlipImageProcessor(size={"height": 32, "width": 32}, image_mean=mean, image_std=std),
        )


@pytest.fixture(scope="session")
def blip_diffusion_dir(tmp_path_factory) -> Path:
    """Like ``Salesforce/blipdiffusion``; its Q-Former reads a tiny BERT tokenizer from a local folder."""
    _torch()
    tmp = tmp_path_factory.mktemp("tiny")
    path = tmp / "blipdiffusion"
    _blip_diffusion(tmp).save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture(scope="session")
def omnigen_dir(tmp_path_factory) -> Path:
    """Like ``Shitao/OmniGen-v1-diffusers``: OmniGen transformer (Phi-3 style), SDXL-style VAE, flow matching."""
    _torch()
    from diffusers import FlowMatchEulerDiscreteScheduler, OmniGenPipeline, OmniGenTransformer2DModel

    from mige_eval.baselines.omnigen import torchvision_free_processor

    tokenizer = tiny_tokenizers.llama_tokenizer()  # OmniGen's special ids: unk 0, bos 1, eos/pad 2
    head_dim = 16
    transformer = OmniGenTransformer2DModel(
        in_channels=4,
        patch_size=2,
        hidden_size=32,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        num_layers=1,
        pad_token_id=2,
        vocab_size=len(tokenizer),
        pos_embed_max_size=32,
        rope_scaling={"short_factor": [1.0] * (head_dim // 2), "long_factor": [1.0] * (head_dim // 2)},
    )
    with torchvision_free_processor():  # the pipeline's constructor wants torchvision otherwise
        pipe = OmniGenPipeline(
            transformer=transformer,
            vae=_vae(blocks=4),
            scheduler=FlowMatchEulerDiscreteScheduler(),
            tokenizer=tokenizer,
        )
    path = tmp_path_factory.mktemp("tiny") / "omnigen"
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def _tiny_editor(name: str, build: str, **options):
    """A session fixture: the tiny pipeline ``tiny_editors.<build>`` saves, built once (see tests/tiny_editors.py)."""

    @pytest.fixture(scope="session")
    def folder(tmp_path_factory) -> Path:
        import tiny_editors

        return getattr(tiny_editors, build)(tmp_path_factory.mktemp("tiny") / name, **options)

    folder.__doc__ = f"Like the published {name} checkpoint: tiny, random, saved with save_pretrained."
    return folder


kontext_dir = _tiny_editor("flux-kontext", "save_tiny_kontext")
qwen_edit_dir = _tiny_editor("qwen-image-edit", "save_tiny_qwen_edit", plus=False)
qwen_edit_plus_dir = _tiny_editor("qwen-image-edit-plus", "save_tiny_qwen_edit", plus=True)
flux2_dir = _tiny_editor("flux2", "save_tiny_flux2")
flux2_klein_dir = _tiny_editor("flux2-klein", "save_tiny_flux2_klein")
longcat_dir = _tiny_editor("longcat-image-edit", "save_tiny_longcat_edit")
ultraedit_dir = _tiny_editor("ultraedit", "save_tiny_ultraedit")


@pytest.fixture(scope="session")
def photos() -> list[Image.Image]:
    """Small deterministic RGB test images of different sizes and content."""
    rng = np.random.default_rng(SEED)
    sizes = [(48, 40), (40, 48), (64, 64), (36, 36)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


@pytest.fixture
def make_request(photos):
    """A :class:`Request` with Emu Edit-like defaults; keyword arguments override fields."""
    from mige_eval.types import Request

    def make(**fields) -> Request:
        values = dict(
            id="sample-1",
            task="edit",
            subset="global",
            instruction="make the sky purple",
            instruction_images=[],
            prompt="make the sky purple",
            source=photos[0],
            mask=None,
            object=None,
            seed=1234,
            size=None,
            meta={},
        )
        values.update(fields)
        return Request(**values)

    return make


@pytest.fixture
def capture_calls(monkeypatch):
    """Record the keyword arguments of every call of a loaded adapter's pipeline (the call still runs)."""

    def wrap(adapter) -> list[dict]:
        pipeline_class, calls = type(adapter.pipeline), []
        original = pipeline_class.__call__

        def recording(self, *args, **kwargs):
            calls.append(kwargs)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(pipeline_class, "__call__", recording)
        return calls

    return wrap


@pytest.fixture(scope="session")
def loaded():
    """``loaded(AdapterClass, model_dir, **options)``: one adapter per arguments for the session, so each tiny
    pipeline is read from disk once; tests must not change the pipeline they get."""
    cache: dict = {}

    def get(adapter_class, model_dir, **options):
        key = (adapter_class, str(model_dir), tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = adapter_class(model_id=str(model_dir), device="cpu", **options)
        return cache[key]

    return get
