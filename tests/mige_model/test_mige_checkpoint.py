"""Strict loading of MIGE's released checkpoint, conversion to safetensors, and ``mige-eval convert-mige``.

The released key names are written out below from docs/mige_model.md and the attribute names of
the authors' modules (LAVIS EVA ViT and Q-Former, FFM, PixArt-α, T5), for the tiny depths of
``tests/tiny_mige.py`` — not derived from our module — so the builder, our module and the documented
names must all agree.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mige_eval.cli import app
from mige_eval.errors import MissingDependencyError, MissingWeightsError
from mige_model.checkpoint import CheckpointError, convert, load_components
from tiny_mige import save_tiny_released, tiny_t5_config


def _eva_keys() -> list[str]:
    keys = ["patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed"]
    for n in range(2):
        keys += [
            f"blocks.{n}.{k}"
            for k in (
                "norm1.weight",
                "norm1.bias",
                "attn.qkv.weight",
                "attn.q_bias",
                "attn.v_bias",
                "attn.proj.weight",
                "attn.proj.bias",
                "norm2.weight",
                "norm2.bias",
                "mlp.fc1.weight",
                "mlp.fc1.bias",
                "mlp.fc2.weight",
                "mlp.fc2.bias",
            )
        ]
    return ["visual_encoder." + k for k in keys]


def _qformer_keys() -> list[str]:
    def attention(name: str) -> list[str]:
        return [f"{name}.self.{p}.{w}" for p in ("query", "key", "value") for w in ("weight", "bias")] + [
            f"{name}.output.{p}.{w}" for p in ("dense", "LayerNorm") for w in ("weight", "bias")
        ]

    keys = ["bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias", "bert.embeddings.position_ids"]
    for n in range(2):
        layer = attention("attention") + (attention("crossattention") if n == 0 else [])  # cross every 2nd layer
        layer += [
            "intermediate_query.dense.weight",
            "intermediate_query.dense.bias",
            "output_query.dense.weight",
            "output_query.dense.bias",
            "output_query.LayerNorm.weight",
            "output_query.LayerNorm.bias",
        ]
        keys += [f"bert.encoder.layer.{n}.{k}" for k in layer]
    return ["Qformer." + k for k in keys]


def _ffm_keys() -> list[str]:
    keys = [
        "q_proj_1.weight",
        "mlp.weight",
        "mlp.bias",
        "clip_attn.in_proj_weight",
        "clip_attn.in_proj_bias",
        "clip_attn.out_proj.weight",
        "clip_attn.out_proj.bias",
    ]
    keys += [f"{p}.{i}.{w}" for p in ("k_proj_1", "v_proj_1") for i in (0, 2) for w in ("weight", "bias")]
    keys += [f"{ln}.{w}" for ln in ("ln_q_1", "ln_k_1", "ln_v_1", "ln_out") for w in ("weight", "bias")]
    return ["FFM." + k for k in keys]


def _dit_keys() -> list[str]:
    keys = [
        "x_embedder.proj.weight",
        "x_embedder.proj.bias",
        "pos_embed",
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
        "final_layer.linear.weight",
        "final_layer.linear.bias",
        "final_layer.scale_shift_table",
    ]
    for n in range(2):
        keys += [
            f"blocks.{n}.{k}"
            for k in (
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
        ]
    return keys


def _t5_keys() -> list[str]:
    keys = [
        "shared.weight",
        "encoder.embed_tokens.weight",
        "encoder.final_layer_norm.weight",
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    ]
    for n in range(2):
        keys += [f"encoder.block.{n}.layer.0.SelfAttention.{p}.weight" for p in "qkvo"]
        keys += [f"encoder.block.{n}.layer.0.layer_norm.weight", f"encoder.block.{n}.layer.1.layer_norm.weight"]
        keys += [f"encoder.block.{n}.layer.1.DenseReluDense.{p}.weight" for p in ("wi_0", "wi_1", "wo")]
    return ["t5_model." + k for k in keys]


RELEASED_KEYS = sorted(
    _eva_keys()
    + ["ln_vision.weight", "ln_vision.bias", "query_tokens"]
    + _qformer_keys()
    + _ffm_keys()
    + ["t5_proj.weight", "t5_proj.bias"]
    + _dit_keys()
    + _t5_keys()
)


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    return save_tiny_released(tmp_path_factory.mktemp("released") / "MIGE", seed=3)


@pytest.fixture
def copy(released, tmp_path) -> Path:
    """A private copy of the tiny release that a test may damage."""
    return Path(shutil.copytree(released, tmp_path / "MIGE"))


def saved_state(root: Path) -> dict[str, torch.Tensor]:
    return torch.load(root / "model.pth", weights_only=True)["state_dict"]


def rewrite(root: Path, edit) -> None:
    state = saved_state(root)
    edit(state)
    torch.save({"state_dict": state}, root / "model.pth")


def load_error(root: Path) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_components(root)
    return str(caught.value)


def test_released_keys_are_the_documented_names(released):
    assert len(RELEASED_KEYS) == len(set(RELEASED_KEYS))
    assert sorted(saved_state(released)) == RELEASED_KEYS


def test_load_released_puts_every_tensor_in_its_place(released):
    saved = saved_state(released)
    parts = load_components(released)
    module, t5 = parts.module, parts.text_encoder
    pairs = {
        "blocks.1.cross_attn.kv_linear.weight": module.dit.blocks[1].cross_attn.kv_linear.weight,
        "final_layer.scale_shift_table": module.dit.final_layer.scale_shift_table,
        "y_embedder.y_embedding": module.dit.y_embedder.y_embedding,
        "pos_embed": module.dit.pos_embed,
        "visual_encoder.blocks.1.attn.q_bias": module.visual_encoder.blocks[1].attn.q_bias,
        "Qformer.bert.encoder.layer.0.crossattention.self.key.weight": module.Qformer.bert.encoder.layer[
            0
        ].crossattention.self.key.weight,
        "query_tokens": module.query_tokens,
        "FFM.mlp.weight": module.FFM.mlp.weight,
        "FFM.k_proj_1.2.bias": module.FFM.k_proj_1[2].bias,
        "t5_proj.weight": module.t5_proj.weight,
        "t5_model.encoder.block.1.layer.1.DenseReluDense.wi_0.weight": t5.encoder.block[1]
        .layer[1]
        .DenseReluDense.wi_0.weight,
        "t5_model.shared.weight": t5.encoder.embed_tokens.weight,
    }
    for name, tensor in pairs.items():
        assert torch.equal(tensor, saved[name]), name
    assert t5.encoder.embed_tokens.weight is t5.shared.weight
    assert {t.dtype for t in [*module.parameters(), *t5.parameters(), *parts.vae.parameters()]} == {torch.float32}
    assert not (module.training or t5.training or parts.vae.training)
    assert not any(t.is_meta for t in [*module.state_dict().values(), *t5.state_dict().values()])
    assert parts.config.t5_dim == 32 and parts.tokenizer("dog").input_ids[-1] == 1  # T5 appends </s>
    assert parts.source["layout"] == "released"
    assert all(files == ["model.pth"] for files in parts.source["parts"].values())
    assert sorted(parts.source["parts"]) == [
        "FFM",
        "Qformer",
        "dit",
        "ln_vision",
        "query_tokens",
        "t5_model",
        "t5_proj",
        "visual_encoder",
    ]
    assert parts.source["ignored"] == ["Qformer.bert.embeddings.position_ids"]
    json.dumps(parts.source)


def test_text_encoder_computes_like_a_plain_t5(released):
    """Our T5 equals transformers' T5 given the same weights the ordinary way (load_state_dict, strict)."""
    from transformers import T5EncoderModel

    parts = load_components(released)
    reference = T5EncoderModel(tiny_t5_config(parts.text_encoder.config.vocab_size)).eval()
    prefix = "t5_model."
    reference.load_state_dict({k[len(prefix) :]: v for k, v in saved_state(released).items() if k.startswith(prefix)})
    ids = torch.tensor([[5, 9, 17, 1]])
    with torch.no_grad():
        ours, theirs = parts.text_encoder(input_ids=ids), reference(input_ids=ids)
    assert torch.equal(ours.last_hidden_state, theirs.last_hidden_state)


def test_renamed_key_is_reported_as_unexpected_and_missing(copy):
    rewrite(copy, lambda s: s.__setitem__("FFM.mlp_out.weight", s.pop("FFM.mlp.weight")))
    message = load_error(copy)
    assert "missing (nothing filled these parameters) (1):\n  FFM.mlp.weight" in message
    assert "unexpected (keys that no part of MIGE uses) (1):\n  FFM.mlp_out.weight" in message
    assert str(copy / "model.pth") in message and "is this MIGE's model.pth?" in message


def test_missing_key_uses_the_released_name(copy):
    rewrite(copy, lambda s: s.pop("blocks.1.attn.qkv.weight"))
    message = load_error(copy)
    assert "missing (nothing filled these parameters) (1):\n  blocks.1.attn.qkv.weight\n" in message
    assert "ignored (known-unused, not an error) (1):\n  Qformer.bert.embeddings.position_ids" in message
    assert "unexpected" not in message and "dit.blocks" not in message


def test_wrong_shape_names_both_shapes(copy):
    rewrite(copy, lambda s: s.__setitem__("x_embedder.proj.weight", torch.zeros(32, 4, 2, 2)))  # PixArt's 4 channels
    message = load_error(copy)
    assert (
        "wrong shape (1):\n  x_embedder.proj.weight: model.pth has (32, 4, 2, 2), the module expects (32, 8, 2, 2)"
    ) in message
    assert "missing" not in message and "mige_config.json" in message


def test_unknown_prefix_and_unknown_t5_key_are_unexpected(copy):
    def edit(state):
        state["lora_adapter.down.weight"] = torch.zeros(2)
        state["t5_model.encoder.extra.weight"] = torch.zeros(2)
        state["t5_model.decoder.block.0.layer.0.SelfAttention.q.weight"] = torch.zeros(2)  # known-unused

    rewrite(copy, edit)
    message = load_error(copy)
    assert (
        "unexpected (keys that no part of MIGE uses) (2):\n  lora_adapter.down.weight\n  t5_model.encoder.extra.weight"
    ) in message
    assert "t5_model.decoder.block.0.layer.0.SelfAttention.q.weight" in message.split("ignored")[1]


def test_unreadable_or_foreign_model_pth(copy):
    (copy / "model.pth").write_bytes(b"truncated")
    with pytest.raises(ValueError, match=r"cannot read .*model.pth as a PyTorch checkpoint of tensors .*re-download"):
        load_components(copy)
    torch.save({"epoch": 3, "optimizer": {"lr": torch.tensor(1.0)}}, copy / "model.pth")
    with pytest.raises(ValueError, match=r"holds a dict with keys \['epoch', 'optimizer'\], not a state dict"):
        load_components(copy)


def test_tied_t5_embeddings_must_agree(copy):
    rewrite(copy, lambda s: s.__setitem__("t5_model.encoder.embed_tokens.weight", s["t5_model.shared.weight"] + 1))
    message = load_error(copy)
    assert "t5_model.encoder.embed_tokens.weight: differs from t5_model.shared.weight, which it is tied to" in message


def test_long_lists_are_cut_with_a_count(copy):
    rewrite(copy, lambda s: [s.pop(k) for k in list(s) if k.startswith("t5_model.")])
    message = load_error(copy)
    assert "missing (nothing filled these parameters) (22):" in message and "  … and 2 more" in message
    assert message.count("\n  t5_model.") == 20
    assert "not found here: eva_vit_g/, blip2_pretrained_flant5xxl/, T5 weights in t5-v1_1-xxl/" in message


def test_module_prefix_and_flat_dicts_are_accepted(copy, released):
    state = saved_state(copy)
    torch.save({f"module.{k}": v for k, v in state.items()}, copy / "model.pth")
    prefixed = load_components(copy)
    assert torch.equal(prefixed.module.dit.blocks[0].mlp.fc2.weight, state["blocks.0.mlp.fc2.weight"])
    torch.save(state, copy / "model.pth")  # no "state_dict" wrapper
    assert torch.equal(load_components(copy).module.FFM.ln_out.bias, state["FFM.ln_out.bias"])


def test_split_components_fill_frozen_parts_and_are_recorded(tmp_path):
    root = save_tiny_released(tmp_path / "MIGE", seed=5, split_components=True)
    eva = torch.load(root / "eva_vit_g" / "eva_vit_g.pth", weights_only=True)
    blip2_file = root / "blip2_pretrained_flant5xxl" / "blip2_pretrained_flant5xxl.pth"
    blip2 = torch.load(blip2_file, weights_only=True)["model"]
    assert not any(k.startswith(("visual_encoder.", "Qformer.", "ln_vision.")) for k in saved_state(root))
    # The authors' BLIP-2 file has text-branch weights and its own t5_proj: neither may be used.
    torch.save(
        {"model": blip2 | {"Qformer.cls.predictions.bias": torch.zeros(3), "t5_proj.weight": torch.zeros(32, 32)}},
        blip2_file,
    )
    parts = load_components(root)
    module = parts.module
    assert torch.equal(module.visual_encoder.blocks[0].mlp.fc1.weight, eva["blocks.0.mlp.fc1.weight"])
    assert torch.equal(
        module.Qformer.bert.encoder.layer[1].output_query.dense.weight,
        blip2["Qformer.bert.encoder.layer.1.output_query.dense.weight"],
    )
    assert torch.equal(module.query_tokens, blip2["query_tokens"])
    assert torch.equal(module.ln_vision.bias, blip2["ln_vision.bias"])
    assert torch.equal(module.t5_proj.weight, saved_state(root)["t5_proj.weight"])
    recorded = parts.source["parts"]
    assert recorded["visual_encoder"] == ["eva_vit_g/eva_vit_g.pth"]
    for part in ("Qformer", "query_tokens", "ln_vision"):
        assert recorded[part] == ["blip2_pretrained_flant5xxl/blip2_pretrained_flant5xxl.pth"]
    assert recorded["dit"] == recorded["t5_proj"] == recorded["t5_model"] == ["model.pth"]


def test_t5_weights_can_come_from_sharded_bin_files(copy):
    """A T5ForConditionalGeneration checkpoint in shards: encoder keys used, decoder and lm_head not."""
    state = saved_state(copy)
    t5 = {k.removeprefix("t5_model."): state.pop(k) for k in list(state) if k.startswith("t5_model.")}
    t5.pop("encoder.embed_tokens.weight")  # tied to shared.weight, which fills both
    folder = copy / "t5-v1_1-xxl"
    names = sorted(t5)
    shards = {
        "pytorch_model-00001-of-00002.bin": names[: len(names) // 2],
        "pytorch_model-00002-of-00002.bin": names[len(names) // 2 :]
        + ["decoder.final_layer_norm.weight", "lm_head.weight"],
    }
    extra = {"decoder.final_layer_norm.weight": torch.ones(32), "lm_head.weight": torch.zeros(7, 32)}
    for file, keys in shards.items():
        torch.save({k: (t5 | extra)[k] for k in keys}, folder / file)
    weight_map = {k: file for file, keys in shards.items() for k in keys}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    torch.save({"state_dict": state}, copy / "model.pth")
    parts = load_components(copy)
    assert torch.equal(parts.text_encoder.encoder.embed_tokens.weight, t5["shared.weight"])
    assert torch.equal(parts.text_encoder.encoder.final_layer_norm.weight, t5["encoder.final_layer_norm.weight"])
    assert parts.source["parts"]["t5_model"] == sorted(f"t5-v1_1-xxl/{f}" for f in shards)


@pytest.mark.parametrize("folder", ["sd-vae-ft-ema", "t5-v1_1-xxl"])
def test_missing_component_folder_is_named_with_the_fix(copy, folder):
    shutil.rmtree(copy / folder)
    with pytest.raises(MissingWeightsError) as caught:
        load_components(copy)
    message = str(caught.value)
    assert f"{copy / folder} is missing" in message
    assert f"hf download EurekaTian/MIGE --include '{folder}/*' --local-dir {copy}" in message


def test_sentencepiece_only_tokenizer_without_protobuf_names_the_package(copy, monkeypatch):
    """The released t5-v1_1-xxl/ has spiece.model but no tokenizer.json; transformers 5 needs protobuf for it."""
    monkeypatch.setitem(sys.modules, "google.protobuf", None)  # as if protobuf were not installed
    (copy / "t5-v1_1-xxl" / "tokenizer.json").unlink()
    (copy / "t5-v1_1-xxl" / "spiece.model").write_bytes(b"")
    with pytest.raises(
        MissingDependencyError,
        match=r"spiece.model \(there is no tokenizer.json beside it\) needs the "
        r"Python package 'protobuf'.*pip install protobuf",
    ):
        load_components(copy)


def test_a_sentencepiece_only_tokenizer_as_released_is_read(copy):
    """A real (tiny) sentencepiece model in place of tokenizer.json, as in the released t5-v1_1-xxl/."""
    spm = pytest.importorskip("sentencepiece")
    folder = copy / "t5-v1_1-xxl"
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    corpus = copy / "corpus.txt"
    corpus.write_text("\n".join(["add a red dog to the picture", "make the sky pink", "a cat on the beach"] * 20))
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "spiece"),
        vocab_size=24,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        minloglevel=2,
    )
    (folder / "spiece.vocab").unlink()
    tokenizer = load_components(copy).tokenizer
    ids = tokenizer("make the sky pink", add_special_tokens=False)["input_ids"]
    assert ids and tokenizer.eos_token_id == 1 and tokenizer.decode(ids) == "make the sky pink"


def test_t5_width_must_match_the_config(copy):
    config = json.loads((copy / "mige_config.json").read_text())
    (copy / "mige_config.json").write_text(json.dumps(config | {"t5_dim": 64}))
    message = load_error(copy)
    assert "t5-v1_1-xxl/config.json has d_model 32 but the MIGE module's t5_dim is 64" in message


def test_folder_without_either_layout_and_absent_folder(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(MissingWeightsError) as caught:
        load_components(tmp_path)
    message = str(caught.value)
    assert "expected model.pth" in message and "or mige.safetensors" in message
    assert "the folder has: weights.bin" in message
    with pytest.raises(MissingWeightsError, match="absent does not exist"):
        load_components(tmp_path / "absent")
    with pytest.raises(ValueError, match="applies to Hugging Face hub ids only"):
        load_components(tmp_path, revision="main")


def test_converted_folder_loads_without_pickle_and_matches(released, tmp_path, monkeypatch):
    original = load_components(released)
    out = convert(released, tmp_path / "converted")
    assert sorted(p.name for p in out.iterdir()) == [
        "conversion.json",
        "mige.safetensors",
        "mige_config.json",
        "text_encoder",
        "vae",
    ]

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load must not be called for the converted layout")

    monkeypatch.setattr(torch, "load", refuse)
    converted = load_components(out)
    for name in ("module", "text_encoder", "vae"):
        mine, theirs = getattr(converted, name).state_dict(), getattr(original, name).state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), name
    assert converted.config == original.config and converted.source["layout"] == "converted"
    record = json.loads((out / "conversion.json").read_text())
    model_pth = next(f for f in record["source"]["files"] if f["path"] == "model.pth")
    assert model_pth["bytes"] == (released / "model.pth").stat().st_size
    assert record["source"]["layout"] == "released" and record["mige_eval_version"]
    assert converted.source["converted_from"]["model_id"] == str(released)


def test_convert_refuses_a_non_empty_destination_and_accepts_an_empty_one(released, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="busy already exists and is not an empty folder"):
        convert(released, tmp_path / "busy")
    (tmp_path / "empty").mkdir()
    assert (convert(released, tmp_path / "empty") / "mige.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty"]  # no temporary folder left


def test_converted_file_with_a_foreign_key_is_rejected(released, tmp_path):
    from safetensors.torch import load_file, save_file

    out = convert(released, tmp_path / "converted")
    tensors = load_file(out / "mige.safetensors")
    tensors |= {"extra.weight": torch.zeros(1), "dit.x_embedder.proj.bias": torch.zeros(3)}
    save_file(tensors, out / "mige.safetensors")
    message = load_error(out)
    assert "unexpected (keys that no part of MIGE uses) (1):\n  extra.weight" in message and "convert again" in message
    assert (
        "wrong shape (1):\n  dit.x_embedder.proj.bias: mige.safetensors has (3,), the module expects (32,)" in message
    )


def _offline_cache(monkeypatch, cache: Path) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(cache.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))


def test_hub_id_offline_without_cache_says_how_to_fetch(tmp_path, monkeypatch):
    _offline_cache(monkeypatch, tmp_path / "hub")
    with pytest.raises(MissingWeightsError) as caught:
        load_components("EurekaTian/MIGE")
    message = str(caught.value)
    assert "MIGE weights 'EurekaTian/MIGE' is not available locally and HF_HUB_OFFLINE is set" in message
    assert "hf download EurekaTian/MIGE --include model.pth" in message
    assert "mige-eval convert-mige EurekaTian/MIGE DIR" in message


def test_hub_id_loads_from_the_hugging_face_cache(released, tmp_path, monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--EurekaTian--MIGE"
    shutil.copytree(released, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    _offline_cache(monkeypatch, tmp_path / "hub")
    parts = load_components("EurekaTian/MIGE")
    assert parts.source["commit"] == commit and parts.source["model_id"] == "EurekaTian/MIGE"
    assert torch.equal(parts.module.t5_proj.bias, saved_state(released)["t5_proj.bias"])
    assert load_components("EurekaTian/MIGE", revision=commit).source["revision"] == commit


def test_cli_convert_mige(released, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["convert-mige", str(released), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"converted {released} (released layout) → {tmp_path / 'out'}" in result.output
    assert "  dit: model.pth" in result.output and "ignored 1 known-unused key(s)" in result.output
    bad = runner.invoke(app, ["convert-mige", str(tmp_path / "nowhere"), str(tmp_path / "out2")])
    assert bad.exit_code == 2 and "nowhere does not exist" in bad.output and not (tmp_path / "out2").exists()
