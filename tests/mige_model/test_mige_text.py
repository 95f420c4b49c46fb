"""MIGE prompt text on hand-worked strings: BLIP caption cleaning, per-task prompts, placeholder splitting."""

from __future__ import annotations

import pytest

from mige_model.text import (
    MAX_WORDS,
    edit_prompt,
    migebench_prompt,
    process_caption,
    split_at_placeholders,
    subject_prompt,
)

EDIT = "Follow the instruction to edit the image:\n "


# --- process_caption ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A Dog. Running!", "a dog running"),
        ('a"b(c)d*e#f:g;h~i', "a b c d e f g h i"),
        # Only the ten listed characters go; commas, apostrophes, question marks, <, >, -, / stay.
        ("It's, OK? <X> a-b/c", "it's, ok? <x> a-b/c"),
        ("a  b   c", "a b c"),
    ],
)
def test_process_caption_punctuation_and_spaces(text, expected):
    assert process_caption(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb", "a\nb"),  # a lone newline is not a run: it survives
        ("a\tb", "a\tb"),
        ("a\n\nb", "a b"),
        ("a \nb", "a b"),
        ("a:\n b", "a b"),  # ':' becomes a space, then ' \n ' is one run
        ("hello\n", "hello"),  # trailing newline stripped
        ("  hi there  ", "hi there"),  # spaces stripped at both ends
        ("\nhi", "\nhi"),  # a leading newline is not stripped (only spaces are)
        ("hi.\n", "hi"),
    ],
)
def test_process_caption_whitespace(text, expected):
    assert process_caption(text) == expected


def test_process_caption_keeps_the_first_88_words():
    words = [f"w{i}" for i in range(100)]
    assert MAX_WORDS == 88
    assert process_caption(" ".join(words)) == " ".join(words[:88])
    assert process_caption(" ".join(words[:88])) == " ".join(words[:88])
    assert process_caption("one two three four", max_words=3) == "one two three"
    # Words are split on single spaces only: a lone newline joins two words into one.
    assert process_caption("a\nb c d", max_words=2) == "a\nb c"


def test_process_caption_rejects_bad_inputs():
    with pytest.raises(ValueError, match="max_words must be at least 1, got 0"):
        process_caption("a dog", max_words=0)
    with pytest.raises(TypeError, match="process_caption: expected the text as a str, got NoneType"):
        process_caption(None)  # type: ignore[arg-type]


# --- prompts per task --------------------------------------------------------------------------


def test_subject_prompt_cleans_prefix_and_instruction_together():
    assert subject_prompt("A <ImageHere> dog wearing a hat.") == (
        "follow the text instruction to generate an image with the given objects' images, "
        "preserving the subject's identity a <imagehere> dog wearing a hat"
    )


def test_migebench_prompt():
    assert migebench_prompt("Add <imagehere> to <ImageHere>.") == (
        "subject-driven editing add <imagehere> to <imagehere>"
    )


@pytest.mark.parametrize(
    ("instruction", "rewritten"),
    [
        ("Color the car in the image red.", "color the car in <imagehere> red"),
        ("Make THIS Photo brighter", "make <imagehere> brighter"),
        ("Turn the picture into a painting", "turn <imagehere> into a painting"),
        ("this image: add snow", "<imagehere> add snow"),
        ("Put the photo in this picture", "put <imagehere> in <imagehere>"),
        ("Crop This Image\n\nplease", "crop <imagehere> please"),
        # The phrase is matched inside longer words too, as in the authors' script.
        ("Brighten the images", "brighten <imagehere> s"),
    ],
)
def test_edit_prompt_rewrites_image_phrases(instruction, rewritten):
    for global_edit in (False, True):  # a placeholder exists, so the task does not matter
        assert edit_prompt(instruction, global_edit=global_edit) == EDIT + rewritten


def test_edit_prompt_appends_a_placeholder_when_none_results():
    assert edit_prompt("Make it look like winter...", global_edit=True) == (
        EDIT + "make it look like winter of<imagehere>"
    )
    local = edit_prompt("Add a hat to the dog.", global_edit=False)
    assert local == EDIT + "add a hat to the dog in<imagehere>"
    # Only trailing full stops are removed before the suffix; the processor cleans the rest.
    assert edit_prompt("Add a hat!. ", global_edit=False) == EDIT + "add a hat in<imagehere>"


def test_edit_prompt_keeps_an_existing_placeholder_in_any_case():
    assert edit_prompt("Put a hat on the dog in <ImageHere>.", global_edit=False) == (
        EDIT + "put a hat on the dog in <imagehere>"
    )
    assert edit_prompt("<imagehere> as a sketch", global_edit=True) == EDIT + "<imagehere> as a sketch"


def test_edit_prompt_keeps_its_prefix_outside_the_processor():
    prompt = edit_prompt("Add a cat.", global_edit=False)
    assert prompt.startswith("Follow the instruction to edit the image:\n ")
    assert split_at_placeholders(prompt) == [EDIT + "add a cat in", ""]


def test_prompt_builders_reject_non_text():
    with pytest.raises(TypeError, match="edit_prompt: expected the text as a str, got int"):
        edit_prompt(3, global_edit=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subject_prompt: expected the text as a str, got list"):
        subject_prompt(["a dog"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="migebench_prompt: expected the text as a str, got bytes"):
        migebench_prompt(b"a dog")  # type: ignore[arg-type]


# --- split_at_placeholders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "segments"),
    [
        ("no placeholder here", ["no placeholder here"]),
        ("a <imagehere> b <ImageHere> c", ["a ", " b ", " c"]),
        ("<IMAGEHERE>x", ["", "x"]),
        ("x<imagehere>", ["x", ""]),
        ("<imagehere><imagehere>", ["", "", ""]),
        ("a<imagehere> <imagehere>b", ["a", " ", "b"]),
        ("", [""]),
    ],
)
def test_split_at_placeholders(prompt, segments):
    assert split_at_placeholders(prompt) == segments


def test_split_at_placeholders_rejects_non_text():
    with pytest.raises(TypeError, match="split_at_placeholders: expected the text as a str, got NoneType"):
        split_at_placeholders(None)  # type: ignore[arg-type]
