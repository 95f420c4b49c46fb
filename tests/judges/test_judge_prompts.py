"""The judge prompts: pinned per version, byte-identical to the published texts, shown as published."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from mige_eval.metrics.judge_prompts import (
    PROMPT_IDS,
    PromptFileError,
    encode_for_judge,
    load_prompt,
    parse_prompt_file,
    prepare_dreambench_plus,
    prepare_gedit,
)

#: (prompt id, version) → fingerprint of everything the judge sees besides the sample. A change to a text,
#: the layout or the image preparation fails here until the prompt file's version is bumped and the new
#: fingerprint added below (keep the old lines: they document what earlier versions were).
PINNED = {
    ("vie_sc", 1): "cb08a1378e2e41af5e47ae8bebf8846c29c13c951e43e9c2e6d078f681953037",
    ("vie_pq", 1): "663145281f6b52808071a5267e913eb3fd6226abb7484468d6a2236ddc249689",
    ("dbp_cp", 1): "743fb742f60eeb8f8fd6debf1517b6ecb102c9e60144c4be77e9631177c19b54",
    ("dbp_pf", 1): "10eaa837ad87f265953ea9c136755761674463283499b63a1c8379089a2c7461",
}
#: sha256 of the published texts as the evaluation scripts send them, computed from the source repositories
#: (stepfun-ai/Step1X-Edit eda7f42 GEdit-Bench/viescore: the "\n".join of __init__.py; yuangpeng/dreambench_plus
#: df0b960 dreambench_plus/prompts/*_full.txt, .strip()ped as the scripts read them).
PUBLISHED = {
    ("vie_sc", "user"): "8f529562c2f89f8db51a3f7cc4d487686f676909c21010b67b0e65ec78150de5",
    ("vie_pq", "user"): "2473ff2c7406e06545c5c039ceb039ff2604ebacf150868a48f0bf07c9e733b0",
    ("dbp_cp", "user"): "01f964fa90af86ff9489f66775f642485f90c1351628b861e0f4fd26f300c00c",
    ("dbp_cp", "assistant"): "6e915593038f996827da4f087f0ea30bda2fffbd233eb0d5b93bd1a952af3b62",
    ("dbp_pf", "user"): "7fca8de6285c01e337d1279b648d1c2fb46101af1327e7cf2a08053775362f32",
    ("dbp_pf", "assistant"): "77622056433fcd4d91ca644d0ec1af04e4e59f0dcc86ec6169f52994b5be745a",
}


@pytest.mark.parametrize("prompt_id", PROMPT_IDS)
def test_prompt_fingerprint_is_pinned_for_its_version(prompt_id):
    prompt = load_prompt(prompt_id)
    assert (prompt.id, prompt.version) in PINNED, (
        f"{prompt.label} has no pinned fingerprint: add ({prompt.id!r}, {prompt.version}): {prompt.fingerprint()!r}"
    )
    assert prompt.fingerprint() == PINNED[(prompt.id, prompt.version)], (
        f"{prompt.id}'s text, layout or image preparation changed but its version is still {prompt.version}: "
        "bump 'version:' in its prompt file and pin the new fingerprint"
    )


def test_packaged_texts_are_the_published_ones_byte_for_byte():
    texts = {(pid, part): text for pid in PROMPT_IDS for part, text in load_prompt(pid).texts.items()}
    assert set(texts) == set(PUBLISHED)
    for key, text in texts.items():
        assert hashlib.sha256(text.encode()).hexdigest() == PUBLISHED[key], key
    assert texts[("vie_sc", "user")].count("<instruction>") == 1
    assert texts[("vie_sc", "user")].endswith("Editing instruction: <instruction>\n")


def test_prompt_file_format_keeps_trailing_newlines_and_refuses_malformed_files():
    fields, texts = parse_prompt_file("# comment\nid: x\nversion: 2\n=== user\nline one\n\n=== assistant\nok\n", "f")
    assert fields == {"id": "x", "version": "2"} and texts == {"user": "line one\n", "assistant": "ok"}
    with pytest.raises(PromptFileError, match="no '=== <part>'"):
        parse_prompt_file("id: x\nversion: 1\n", "f")
    with pytest.raises(PromptFileError, match="appears twice"):
        parse_prompt_file("id: x\n=== user\na\n=== user\nb\n", "f")
    with pytest.raises(PromptFileError, match="neither a comment"):
        parse_prompt_file("just words\n=== user\na\n", "f")
    with pytest.raises(PromptFileError, match="end with a newline"):
        parse_prompt_file("id: x\n=== user\na", "f")


def _rgb(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_vie_prompts_show_source_then_output_resized_to_the_source_then_the_instruction():
    source, output = _rgb(0, (60, 40)), _rgb(1, (33, 50))
    images = prepare_gedit(source, output)
    expected = np.asarray(output.resize((60, 40), Image.Resampling.BICUBIC))  # GEdit-Bench: .resize(src.size)
    assert np.array_equal(np.asarray(images["output"].pixels), expected)
    assert np.array_equal(np.asarray(images["source"].pixels), np.asarray(source))
    for image in images.values():  # PNG: the bytes a server gets decode to the very pixels
        assert image.mime == "image/png"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(image.data))), np.asarray(image.pixels))
    sc = load_prompt("vie_sc").render(images, {"instruction": "make it blue"})
    assert [role for role, _ in sc] == ["user"]
    (items,) = [items for _, items in sc]
    assert items[0] is images["source"] and items[1] is images["output"]
    assert items[2] == load_prompt("vie_sc").texts["user"].replace("<instruction>", "make it blue")
    pq = load_prompt("vie_pq").render(images, {})
    assert pq == (("user", (images["output"], load_prompt("vie_pq").texts["user"])),)


def test_dreambench_plus_prompts_show_512px_jpegs_after_the_task_and_its_acknowledgement():
    photo, output = _rgb(2, (300, 200)), _rgb(3, (64, 64))
    reference = prepare_dreambench_plus(photo)
    buf = io.BytesIO()
    photo.resize((512, 512), Image.Resampling.BICUBIC).save(buf, format="JPEG")  # DreamBench++'s encoding
    assert reference.data == buf.getvalue() and reference.mime == "image/jpeg"
    assert np.array_equal(np.asarray(reference.pixels), np.asarray(Image.open(buf).convert("RGB")))
    out = prepare_dreambench_plus(output)
    cp, pf = load_prompt("dbp_cp"), load_prompt("dbp_pf")
    assert cp.render({"reference": reference, "output": out}, {}) == (
        ("user", (cp.texts["user"],)),
        ("assistant", (cp.texts["assistant"],)),
        ("user", (reference, out)),
    )
    assert pf.render({"output": out}, {"prompt": "a dog on the beach"}) == (
        ("user", (pf.texts["user"],)),
        ("assistant", (pf.texts["assistant"],)),
        ("user", ("a dog on the beach", out)),
    )
    assert cp.detail == pf.detail == "high" and load_prompt("vie_sc").detail is None
    with pytest.raises(ValueError, match="needs the image"):
        cp.render({"output": out}, {})


def test_image_keys_follow_the_pixels_and_the_encoding():
    img = _rgb(4, (20, 20))
    same = img.copy()
    assert encode_for_judge(img, "png").key == encode_for_judge(same, "png").key
    assert encode_for_judge(img, "png").key != encode_for_judge(img, "jpeg").key
    other = np.asarray(img).copy()
    other[0, 0, 0] ^= 1
    assert encode_for_judge(Image.fromarray(other), "png").key != encode_for_judge(img, "png").key
    with pytest.raises(ValueError, match="encoding"):
        encode_for_judge(img, "gif")
