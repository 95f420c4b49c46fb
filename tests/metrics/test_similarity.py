"""dino, clip_i, clip_t and clip_dir against an independent computation on real DreamBench photos, and their
invariances."""

from __future__ import annotations

import numpy as np
import pytest

from mige_eval.metrics.similarity import clip_direction, cosine, image_similarity
from mige_eval.scoring import Scorer
from mige_eval.summary import summarize

TOL = 1e-5
LONG_CAPTION = " ".join(["a red dog with a shiny blue backpack on the beach"] * 12)


def score(ctx, names, samples, outputs):
    scorer = Scorer(names, ctx)
    return scorer.score(samples, outputs)


def odd_shapes(kit, photos):
    """Outputs of awkward geometry: non-square, odd sizes (exercises the crop rounding)."""
    a, b, c = (kit.rgb(p) for p in photos[:3])
    return [a.resize((517, 389)), b.crop((10, 0, 310, 451)), c.resize((225, 301))]


def test_pure_functions_follow_the_definitions():
    a, b = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    assert cosine(a, b) == pytest.approx(1 / np.sqrt(2))
    assert image_similarity(a, np.stack([a, b])) == pytest.approx((1 + 1 / np.sqrt(2)) / 2)
    assert image_similarity(a, b) == pytest.approx(1 / np.sqrt(2))
    src, out, t_in, t_out = np.array([2.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([0.0, 3.0])
    # normalised: Δi = (-1, 1), Δt = (-1, 1) → 1; raw: Δi = (-2, 1), Δt = (-1, 3) → 5 / (√5 · √10)
    assert clip_direction(src, out, t_in, t_out) == pytest.approx(1.0)
    assert clip_direction(src, out, t_in, t_out, "raw-diff") == pytest.approx(5 / np.sqrt(50))
    assert clip_direction(src, src, t_in, t_out) is None
    assert clip_direction(src, out, t_in, t_in) is None
    with pytest.raises(ValueError, match="formula"):
        clip_direction(src, out, t_in, t_out, "cosine")
    with pytest.raises(ValueError, match="at least one reference"):
        image_similarity(a, np.zeros((0, 2)))


def test_image_and_text_metrics_match_the_independent_computation(dreambench_photos, make_ctx, independent, kit):
    photos = dreambench_photos
    refs = [kit.ref_of(p) for p in photos]
    captions = ["a dog in the jungle", "a cat on the beach", "a red backpack with a wet shiny blue sky"]
    samples = [
        kit.sample(f"s{i}", task="subject", references=(refs[i + 1], refs[i + 2], refs[0]), caption=captions[i])
        for i in range(3)
    ]
    outputs = odd_shapes(kit, photos)
    results = score(make_ctx(batch_size=2), ["dino", "clip_i", "clip_t"], samples, outputs)
    decoded = [kit.rgb(p) for p in photos]
    for i, (res, out) in enumerate(zip(results, outputs)):
        assert res.error is None and res.flags == []
        ref_imgs = [decoded[i + 1], decoded[i + 2], decoded[0]]
        dino = np.mean([kit.cos(independent.dino_features(out), independent.dino_features(r)) for r in ref_imgs])
        clip_i = np.mean([kit.cos(independent.clip_image(out), independent.clip_image(r)) for r in ref_imgs])
        clip_t = kit.cos(independent.clip_image(out), independent.clip_text(captions[i]))
        assert res.metrics["dino"] == pytest.approx(dino, abs=TOL)
        assert res.metrics["clip_i"] == pytest.approx(clip_i, abs=TOL)
        assert res.metrics["clip_t"] == pytest.approx(clip_t, abs=TOL)
    assert len({round(r.metrics["dino"], 6) for r in results}) == 3  # the samples really differ


@pytest.mark.parametrize("preset", ["normalize-diff", "raw-diff", "ip2p"])
def test_clip_dir_matches_the_independent_computation(preset, dreambench_photos, make_ctx, independent, kit):
    photos = dreambench_photos
    outputs = odd_shapes(kit, photos[1:])
    captions = [("a dog", "a dog in the snow"), ("a cat", "a purple cat"), ("a teapot", "a red cartoon teapot")]
    samples = [
        kit.sample(
            f"e{i}",
            source=kit.ref_of(photos[i]),
            references=(kit.ref_of(photos[i]),),
            input_caption=captions[i][0],
            output_caption=captions[i][1],
        )
        for i in range(3)
    ]
    results = score(make_ctx(preset), ["clip_dir"], samples, outputs)
    ip2p = preset == "ip2p"
    for i, res in enumerate(results):
        vecs = [
            independent.clip_image(kit.rgb(photos[i]), ip2p),
            independent.clip_image(outputs[i], ip2p),
            independent.clip_text(captions[i][0]),
            independent.clip_text(captions[i][1]),
        ]
        if preset != "raw-diff":
            vecs = [v / np.linalg.norm(v) for v in vecs]
        expected = kit.cos(vecs[1] - vecs[0], vecs[3] - vecs[2])
        assert res.error is None
        assert res.metrics["clip_dir"] == pytest.approx(expected, abs=TOL)


def test_identical_images_score_one(dreambench_photos, make_ctx, kit):
    ref = kit.ref_of(dreambench_photos[2])
    results = score(make_ctx(), ["dino", "clip_i"], [kit.sample(references=(ref,))], [kit.rgb(dreambench_photos[2])])
    assert results[0].metrics["dino"] == pytest.approx(1.0, abs=1e-6)
    assert results[0].metrics["clip_i"] == pytest.approx(1.0, abs=1e-6)


def test_swapping_source_and_output_flips_clip_dir(dreambench_photos, make_ctx, kit):
    a, b = dreambench_photos[0], dreambench_photos[3]
    caps = dict(input_caption="a dog", output_caption="a teapot")
    forward = kit.sample("ab", source=kit.ref_of(a), **caps)
    backward = kit.sample("ba", source=kit.ref_of(b), **caps)
    results = score(make_ctx(), ["clip_dir"], [forward, backward], [kit.rgb(b), kit.rgb(a)])
    there, back = (r.metrics["clip_dir"] for r in results)
    assert abs(there) > 0.01
    assert back == pytest.approx(-there, abs=1e-6)


@pytest.mark.parametrize("preset, undefined", [("null", None), ("zero", 0.0)])
def test_clip_dir_undefined_cases_are_flagged_and_counted(preset, undefined, dreambench_photos, make_ctx, kit):
    src, other = dreambench_photos[0], dreambench_photos[1]
    samples = [
        kit.sample("same-captions", source=kit.ref_of(src), input_caption="A  Dog", output_caption="a dog"),
        kit.sample("copy", source=kit.ref_of(src), input_caption="a dog", output_caption="a cat"),
        kit.sample("no-caption", source=kit.ref_of(src), input_caption="a dog", output_caption=None),
        kit.sample("fine", source=kit.ref_of(src), input_caption="a dog", output_caption="a cat"),
    ]
    outputs = [kit.rgb(other), kit.rgb(src), kit.rgb(other), kit.rgb(other)]
    results = score(make_ctx(preset), ["clip_dir"], samples, outputs)
    values = [r.metrics["clip_dir"] for r in results]
    assert values[:3] == [undefined, undefined, None] and values[3] not in (None, 0.0)
    assert [r.flags for r in results] == [
        ["clip_dir_identical_captions"],
        ["clip_dir_identical_images"],
        ["clip_dir_missing_caption"],
        [],
    ]
    records = [
        {"id": s.id, "subset": "test", "metrics": r.metrics, "flags": r.flags, "error": None}
        for s, r in zip(samples, results)
    ]
    summary = summarize(records, bench="emuedit", model="m", metrics=["clip_dir"])
    expected_n = 1 if preset == "null" else 3
    assert summary["counts"]["clip_dir"] == expected_n
    assert summary["flags"]["clip_dir_identical_captions"]["total"] == 1


def test_long_caption_is_truncated_with_end_of_text_last(dreambench_photos, make_ctx, independent, kit):
    ctx = make_ctx()
    out = kit.rgb(dreambench_photos[0])
    samples = [kit.sample("long", caption=LONG_CAPTION), kit.sample("short", caption="a dog")]
    results = score(ctx, ["clip_t"], samples, [out, out])
    assert results[0].flags == ["caption_truncated"] and results[1].flags == []
    expected = kit.cos(independent.clip_image(out), independent.clip_text(LONG_CAPTION))
    assert results[0].metrics["clip_t"] == pytest.approx(expected, abs=TOL)
    from mige_eval.metrics.features import feature_store

    text = feature_store(ctx).text_features([LONG_CAPTION])
    tok = independent.tokenizer
    ids = text.token_ids[0]
    assert text.truncated == [True] and len(ids) == 77
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert list(ids[:76]) == tok(LONG_CAPTION)["input_ids"][:76]
    # docs/metrics.md, CLIP (I): the transformers truncation gives the openai rule's ids.
    assert list(ids) == tok(LONG_CAPTION, truncation=True, max_length=77)["input_ids"]


def test_strict_preset_fails_only_the_long_caption(dreambench_photos, make_ctx, kit):
    out = kit.rgb(dreambench_photos[0])
    samples = [kit.sample("long", caption=LONG_CAPTION), kit.sample("short", caption="a dog")]
    results = score(make_ctx("strict"), ["clip_t"], samples, [out, out])
    assert "sample long" in results[0].error and "77-token" in results[0].error and "strict" in results[0].error
    assert results[1].error is None and results[1].metrics["clip_t"] is not None


def test_missing_fields_fail_their_sample_clearly(dreambench_photos, make_ctx, kit):
    out = kit.rgb(dreambench_photos[0])
    results = score(make_ctx(), ["clip_t", "dino"], [kit.sample("bare")], [out])
    assert "sample bare has no caption" in results[0].error
    results = score(make_ctx(), ["clip_dir"], [kit.sample("nosrc", input_caption="a", output_caption="b")], [out])
    assert "sample nosrc has no source image" in results[0].error
