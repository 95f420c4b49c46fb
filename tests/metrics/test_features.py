"""The feature store: keys, memory and disk layers, batching, image modes and zero-size images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mige_eval.images import ImageRef
from mige_eval.metrics import features
from mige_eval.metrics.backbones import Backbone
from mige_eval.metrics.features import ENCODED, default_cache_dir, feature_store
from mige_eval.scoring import Scorer


def encoded_since(before):
    return {k: ENCODED[k] - before.get(k, 0) for k in ENCODED if ENCODED[k] != before.get(k, 0)}


def counting_ref(path, label, reads):
    """An ImageRef whose reads are counted (a decode needs one too)."""
    data = path.read_bytes()

    def read():
        reads.append(label)
        return data

    return ImageRef(label, read)


def png_ref(img: Image.Image, label: str) -> ImageRef:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return ImageRef.from_bytes(buf.getvalue(), label)


def test_references_are_encoded_once_per_run_and_once_across_runs(tmp_path, make_ctx, dreambench_photos, kit):
    """DreamBench-like: 25 prompts share one subject's photos; a second run re-encodes only new outputs."""
    reads: list[str] = []
    refs = tuple(counting_ref(p, f"photo{i}", reads) for i, p in enumerate(dreambench_photos[:3]))
    samples = [kit.sample(f"p{i:02d}", task="subject", references=refs, caption=f"a dog {i % 5}") for i in range(25)]
    outputs = [kit.rgb(dreambench_photos[3 + i % 2]).resize((512, 512)) for i in range(25)]  # two distinct images
    before = dict(ENCODED)
    first = Scorer(["dino", "clip_i", "clip_t"], make_ctx(batch_size=4)).score(samples, outputs)
    assert encoded_since(before) == {"dino": 3 + 2, "clip": 3 + 2, "text": 5}
    assert reads.count("photo0") == 2  # one read to hash it, one to decode it; never again this run

    reads.clear()
    before = dict(ENCODED)
    new_outputs = [o.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for o in outputs]
    ctx = make_ctx(batch_size=4)
    ctx.load = lambda ref: pytest.fail(f"{ref.label} was decoded although its features are cached")
    second = Scorer(["dino", "clip_i", "clip_t"], ctx).score(samples, new_outputs)
    assert encoded_since(before) == {"dino": 2, "clip": 2}  # only this model's outputs
    assert sorted(reads) == ["photo0", "photo1", "photo2"]  # hashed from their bytes, not decoded
    assert all(r.error is None for r in first + second)
    assert (tmp_path / "cache" / features.CACHE_FILE).is_file()


def test_no_cache_writes_nothing_and_cache_dir_moves_the_file(tmp_path, make_ctx, dreambench_photos, kit, monkeypatch):
    sample = kit.sample(references=(kit.ref_of(dreambench_photos[0]),))
    out = [kit.rgb(dreambench_photos[1])]
    for _ in range(2):
        before = dict(ENCODED)
        Scorer(["dino"], make_ctx(use_cache=False, cache_dir=tmp_path / "unused")).score([sample], out)
        assert encoded_since(before) == {"dino": 2}
    assert not (tmp_path / "unused").exists()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mige-eval" / "features"
    ctx = make_ctx()
    ctx.options.cache_dir = None
    Scorer(["dino"], ctx).score([sample], out)
    assert (tmp_path / "xdg" / "mige-eval" / "features" / features.CACHE_FILE).is_file()


def test_forward_passes_have_batch_size_and_keys_dedupe(monkeypatch, make_ctx, dreambench_photos, kit):
    sizes: list[int] = []
    real = Backbone.encode_pixels
    monkeypatch.setattr(Backbone, "encode_pixels", lambda self, batch: sizes.append(len(batch)) or real(self, batch))
    store = feature_store(make_ctx(batch_size=2))
    photo = kit.rgb(dreambench_photos[0])
    images = [kit.ref_of(p) for p in dreambench_photos] + [photo, photo.copy(), ("crop-1", photo), ("crop-1", photo)]
    feats = store.image_features("dino", images)
    assert sizes == [2, 2, 2, 1]  # 5 references + 1 pixel key (two objects, same pixels) + 1 caller key
    assert feats.shape == (9, 32)
    np.testing.assert_array_equal(feats[5], feats[6])
    np.testing.assert_allclose(feats[0], feats[5], atol=1e-5)  # the same photo as file bytes and as pixels
    assert store.image_features("clip", []).shape[0] == 0
    with pytest.raises(ValueError, match="unknown image feature kind"):
        store.image_features("sam", images)
    with pytest.raises(TypeError, match="ImageRef, a PIL image or a"):
        store.image_features("dino", ["dog.jpg"])


def test_text_features_carry_token_ids_and_truncation(make_ctx):
    store = feature_store(make_ctx())
    before = dict(ENCODED)
    text = store.text_features(["a dog", "A   DOG", " ".join(["the dog"] * 50)])
    assert encoded_since(before) == {"text": 2}  # case and spacing give the same tokens
    assert text.token_ids[0] == text.token_ids[1] and text.truncated == [False, False, True]
    np.testing.assert_array_equal(text.vectors[0], text.vectors[1])
    assert text.vectors.shape == (3, 16) and len(text.token_ids[2]) == 77
    assert store.text_features([]).token_ids == []


def test_an_unusable_cache_file_is_a_clear_error(tmp_path, make_ctx):
    folder = tmp_path / "bad-cache"
    folder.mkdir()
    (folder / features.CACHE_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(RuntimeError, match=r"feature cache .*features.sqlite cannot be used.*--no-cache"):
        Scorer(["dino"], make_ctx(cache_dir=folder))


def test_batch_size_must_be_positive(make_ctx):
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        Scorer(["dino"], make_ctx(batch_size=0))


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P"])
def test_image_modes_are_converted_by_the_documented_rule(mode, make_ctx, independent, dreambench_photos, kit):
    """A reference stored as grayscale / RGBA / 16-bit / palette scores like its RGB conversion (images.py rule)."""
    base = kit.rgb(dreambench_photos[4]).resize((300, 260))
    arr = np.asarray(base)
    if mode == "L":
        stored = base.convert("L")
        expected = np.repeat(np.asarray(stored)[..., None], 3, axis=2)
    elif mode == "RGBA":
        stored = Image.fromarray(np.dstack([arr, np.full(arr.shape[:2], 7, np.uint8)]), "RGBA")
        expected = arr  # alpha dropped, not composited
    elif mode == "I;16":
        wide = (arr[..., 0].astype(np.uint16) * 257 + 100).astype(np.uint16)
        stored = Image.fromarray(wide)
        expected = np.repeat(np.clip(np.rint(wide * 255.0 / 65535.0), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    else:
        stored = base.quantize(16)
        palette = np.array(stored.getpalette()[:48], np.uint8).reshape(16, 3)
        expected = palette[np.asarray(stored)]
    ref = png_ref(stored, f"ref-{mode}.png")
    output = kit.rgb(dreambench_photos[1])
    result = Scorer(["dino"], make_ctx()).score([kit.sample(references=(ref,))], [output])[0]
    truth = kit.cos(independent.dino_features(output), independent.dino_features(Image.fromarray(expected, "RGB")))
    assert result.error is None and result.metrics["dino"] == pytest.approx(truth, abs=1e-5)


def test_zero_size_images_fail_their_sample_only(make_ctx, dreambench_photos, kit):
    good = kit.ref_of(dreambench_photos[0])
    header = (0).to_bytes(4, "big") + (5).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    zero_png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")
    samples = [
        kit.sample("empty-output", references=(good,)),
        kit.sample("ok", references=(good,)),
        kit.sample("empty-ref", references=(ImageRef.from_bytes(zero_png, "refs/zero.png"),)),
    ]
    outputs = [Image.new("RGB", (0, 4)), kit.rgb(dreambench_photos[1]), kit.rgb(dreambench_photos[1])]
    results = Scorer(["clip_i"], make_ctx()).score(samples, outputs)
    assert "image output of sample empty-output has zero size (0x4)" in results[0].error
    assert results[1].error is None and results[1].metrics["clip_i"] is not None
    assert "cannot decode image refs/zero.png" in results[2].error


def _chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
