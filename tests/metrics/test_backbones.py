"""Backbone loading: local folders and hub ids (offline cache), revisions, wrong kinds, precision, load-once."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mige_eval.errors import MissingWeightsError
from mige_eval.metrics import backbones
from mige_eval.metrics.backbones import Backbone, BackboneError, backbone, download_backbones
from mige_eval.scoring import Scorer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch, tiny_dino):
    """An offline Hugging Face cache holding ``tiny-org/dino`` at :data:`COMMIT` (refs/main points at it)."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    repo = cache / "models--tiny-org--dino"
    shutil.copytree(tiny_dino, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_local_folder_is_keyed_by_a_digest_of_its_files(tiny_dino, tmp_path):
    first = Backbone("dino", str(tiny_dino), "cpu").prepare()
    assert first.revision.startswith("sha256:") and first.fingerprint == f"local@{first.revision}|fp32"
    moved = shutil.copytree(tiny_dino, tmp_path / "elsewhere")
    assert Backbone("dino", str(moved), "cpu").prepare().fingerprint == first.fingerprint  # a copy shares its cache
    (moved / "config.json").write_text((moved / "config.json").read_text().replace("1e-12", "1e-06"))
    assert Backbone("dino", str(moved), "cpu").prepare().revision != first.revision


def test_hub_id_resolves_offline_from_the_cache_with_its_revision(hub_cache, make_ctx, dreambench_photos, kit):
    for model in ("tiny-org/dino", f"tiny-org/dino@{COMMIT}"):
        loaded = Backbone("dino", model, "cpu").prepare()
        assert loaded.model_id == "tiny-org/dino" and loaded.fingerprint == f"tiny-org/dino@{COMMIT}|fp32"
    ctx = make_ctx(dino_model="tiny-org/dino")
    results = Scorer(["dino"], ctx).score(
        [kit.sample(references=(kit.ref_of(dreambench_photos[0]),))], [kit.rgb(dreambench_photos[1])]
    )
    assert results[0].error is None and -1 <= results[0].metrics["dino"] <= 1


def test_missing_hub_model_names_it_and_the_fetch_command(hub_cache, make_ctx):
    with pytest.raises(MissingWeightsError) as err:
        Scorer(["dino"], make_ctx(dino_model="tiny-org/absent"))
    text = str(err.value)
    assert "--dino-model tiny-org/absent: model 'tiny-org/absent' is not available locally" in text
    assert "HF_HUB_OFFLINE" in text
    assert "mige-eval download --backbones" in text and "hf download tiny-org/absent" in text
    with pytest.raises(MissingWeightsError, match="at revision v9"):
        Backbone("dino", "tiny-org/dino@v9", "cpu").prepare()


def test_missing_and_unreadable_local_folders(tmp_path, make_ctx, tiny_dino):
    with pytest.raises(MissingWeightsError, match="local model directory .*nowhere does not exist"):
        Scorer(["dino"], make_ctx(dino_model=str(tmp_path / "nowhere")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingWeightsError, match="empty has no config.json"):
        Scorer(["clip_i"], make_ctx(clip_model=str(tmp_path / "empty")))
    broken = shutil.copytree(tiny_dino, tmp_path / "broken")
    (broken / "config.json").write_text("{not json")
    with pytest.raises(MissingWeightsError, match="--dino-model .*broken: cannot load"):
        Scorer(["dino"], make_ctx(dino_model=str(broken)))
    no_weights = shutil.copytree(tiny_dino, tmp_path / "no-weights")
    (no_weights / "model.safetensors").write_bytes(b"not safetensors")
    loaded = Backbone("dino", str(no_weights), "cpu").prepare()  # config is fine; weights fail on first use
    with pytest.raises(MissingWeightsError, match="no-weights"):
        loaded.encode_pixels(np.zeros((1, 3, 224, 224), np.float32))


def test_a_model_of_the_wrong_kind_is_refused(make_ctx, tiny_clip, tiny_dino):
    with pytest.raises(BackboneError, match=r"--dino-model .* is a 'clip' checkpoint, but the dino metrics need a vit"):
        Scorer(["dino"], make_ctx(dino_model=str(tiny_clip)))
    with pytest.raises(BackboneError, match=r"is a 'vit' checkpoint, but the clip metrics need a clip model"):
        Scorer(["clip_t"], make_ctx(clip_model=str(tiny_dino)))
    with pytest.raises(BackboneError, match="no text encoder"):
        Backbone("dino", str(tiny_dino), "cpu").tokenize(["a dog"])


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_needs_cuda(precision, make_ctx):
    with pytest.raises(ValueError, match=f"preset {precision} .* needs a CUDA device"):
        Scorer(["clip_i"], make_ctx(precision))


def test_each_backbone_loads_once_and_only_when_needed(monkeypatch, make_ctx, dreambench_photos, kit):
    loads: list[str] = []
    real = Backbone._load

    def counting(self, loader, **kwargs):
        loads.append(loader)
        return real(self, loader, **kwargs)

    monkeypatch.setattr(Backbone, "_load", counting)
    ctx = make_ctx()
    scorer = Scorer(["clip_i", "clip_t", "clip_dir"], ctx)
    assert loads == ["AutoConfig"]  # constructing the metrics checks the checkpoint, loads no weights
    photo = kit.ref_of(dreambench_photos[0])
    samples = [
        kit.sample(
            f"s{i}", references=(photo,), source=photo, caption="a dog", input_caption="a dog", output_caption="a cat"
        )
        for i in range(3)
    ]
    outputs = [kit.rgb(p) for p in dreambench_photos[1:4]]
    scorer.score(samples[:2], outputs[:2])
    scorer.score(samples[2:], outputs[2:])
    assert sorted(loads) == ["AutoConfig", "AutoTokenizer", "CLIPModel"]  # no DINO, CLIP once
    assert backbone(ctx, "clip").model() is backbone(ctx, "clip").model()


def test_dino_is_built_without_a_random_pooler(make_ctx):
    model = backbone(make_ctx(), "dino").model()
    assert model.pooler is None


def test_the_checkpoint_image_processor_is_not_used(tiny_dino, make_ctx, independent, dreambench_photos, kit):
    """The folder ships the stock bilinear-squash processor; features follow the k-NN transform instead."""
    import torch
    from transformers import AutoImageProcessor

    img = kit.rgb(dreambench_photos[0]).resize((640, 480))
    ctx = make_ctx()
    ours = backbone(ctx, "dino").encode_pixels(backbones.dino_pixels(img)[None])[0]
    stock = AutoImageProcessor.from_pretrained(tiny_dino)(images=img, return_tensors="np")["pixel_values"]
    with torch.no_grad():
        squashed = independent.dino(pixel_values=torch.from_numpy(stock)).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(ours, independent.dino_features(img), atol=1e-5)
    assert np.abs(ours - squashed).max() > 1e-3


def test_download_backbones_fetches_safetensors_and_falls_back_to_bin(monkeypatch, tmp_path):
    import huggingface_hub

    from mige_eval import hub
    from mige_eval.metrics.checkpoint import HUB_FILES

    monkeypatch.setattr(hub, "hub_reachable", lambda: True)
    calls = []

    def fake_snapshot(repo_id, *, allow_patterns, revision=None, local_files_only=False):
        calls.append((repo_id, tuple(allow_patterns), revision, local_files_only))
        folder = tmp_path / repo_id.replace("/", "--")
        folder.mkdir(exist_ok=True)
        if repo_id.startswith("openai") and "*.safetensors" in allow_patterns:
            (folder / "model.safetensors").write_bytes(b"")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    folders = download_backbones()
    assert [f.name for f in folders] == ["openai--clip-vit-base-patch32", "facebook--dino-vits16"]
    assert calls == [
        ("openai/clip-vit-base-patch32", tuple(HUB_FILES), None, False),
        ("facebook/dino-vits16", tuple(HUB_FILES), None, False),
        ("facebook/dino-vits16", ("pytorch_model.bin",), None, False),
    ]
    calls.clear()
    download_backbones(["openai/clip-vit-large-patch14@abc"])
    assert calls == [("openai/clip-vit-large-patch14", tuple(HUB_FILES), "abc", False)]
