"""T5 ids of MIGE prompts as transformers 4.33.2 (the MIGE authors' pinned version) produced them.

MIGE splits a prompt at ``<imagehere>``, tokenizes each segment alone without special tokens and appends
EOS to the last segment. ``EXPECTED`` holds, for every prompt of ``PROMPTS``, those segment ids as
transformers 4.33.2's ``T5TokenizerFast`` gave them for the tiny sentencepiece model that
``tiny_tokenizers.t5_sentencepiece_folder`` writes (no real T5 tokenizer file can be had here; the tiny
model has T5's normalizer, nmt_nfkc with its precompiled character map, and a Unigram vocabulary of
whole words and single characters, so every rule of the conversion shows in the ids).

The literals were produced, outside the repository's environment, by:

    python3 -m venv /tmp/tf433
    /tmp/tf433/bin/pip install transformers==4.33.2 tokenizers==0.13.3 sentencepiece==0.2.3 protobuf==7.36.2
    /tmp/tf433/bin/python tests/mige_t5_433_ids.py

which prints ``EXPECTED`` (this file needs neither torch nor transformers 5 to run that way).
"""

from __future__ import annotations

PROMPTS = (
    # Emu Edit row 1 as the edit rewrite makes it: the first segment ends with "make ".
    "Follow the instruction to edit the image:\n make <imagehere> look like a encaustic painting",
    # A global edit: " of<imagehere>" appended, so the last segment is empty (EOS alone).
    "Follow the instruction to edit the image:\n make it look like a watercolor of<imagehere>",
    # Two placeholders from one instruction (Emu Edit idx 1629, empty_slots=true).
    "Follow the instruction to edit the image:\n change <imagehere> so that the sky in <imagehere> is pink",
    # DreamBench, the authors' form and the readable form mige-eval's benchmark builds.
    (
        "follow the text instruction to generate an image with the given objects' images, preserving the "
        "subject's identity a<imagehere>in the jungle"
    ),
    (
        "follow the text instruction to generate an image with the given objects' images, preserving the "
        "subject's identity a <imagehere> in the jungle"
    ),
    # MIGEBench as published.
    "subject-driven editing add<imagehere>to the bottom center of<imagehere>",
    # Placeholders at the start, at the end, in a row, and nothing else.
    "<imagehere> on the beach",
    "a red<imagehere>",
    "<imagehere><imagehere>",
    "<imagehere>",
    "",
    # Spaces: leading, trailing, repeated, alone.
    " leading space and trailing space ",
    "repeated   spaces  inside   and trailing  ",
    "  two leading spaces",
    " <imagehere>   ",
    # Newlines, tabs, carriage returns.
    "a\nnewline and a tab\tand\r\nwindows line end",
    "newline before a placeholder\n<imagehere>\nafter it",
    "trailing newline\n",
    "\n leading newline",
    # The character map: a ligature and full-width letters fold (NFKC); é is not in the tiny vocabulary.
    "\ufb01re \uff21\uff22\uff23 caf\u00e9",
    # Capitals, digits, punctuation; a special token written in the text.
    "Make THE Image 2x, please! ",
    "an </s> inside",
)

# Printed by the command above (transformers 4.33.2, tokenizers 0.13.3, sentencepiece 0.2.3, protobuf 7.36.2).
EXPECTED: dict[str, list[list[int]]] = {
    "Follow the instruction to edit the image:\n make <imagehere> look like a encaustic painting": [
        [159, 96, 79, 76, 76, 79, 87, 5, 54, 12, 55, 5, 17, 142, 48, 159],
        [
            159,
            76,
            79,
            79,
            75,
            159,
            76,
            73,
            75,
            69,
            3,
            159,
            69,
            78,
            67,
            65,
            85,
            83,
            84,
            73,
            67,
            159,
            80,
            65,
            73,
            78,
            84,
            73,
            78,
            71,
            1,
        ],
    ],
    "Follow the instruction to edit the image:\n make it look like a watercolor of<imagehere>": [
        [
            159,
            96,
            79,
            76,
            76,
            79,
            87,
            5,
            54,
            12,
            55,
            5,
            17,
            142,
            48,
            159,
            73,
            84,
            159,
            76,
            79,
            79,
            75,
            159,
            76,
            73,
            75,
            69,
            3,
            159,
            87,
            65,
            84,
            69,
            82,
            67,
            79,
            76,
            79,
            82,
            6,
        ],
        [1],
    ],
    "Follow the instruction to edit the image:\n change <imagehere> so that the sky in <imagehere> is pink": [
        [159, 96, 79, 76, 76, 79, 87, 5, 54, 12, 55, 5, 17, 142, 49, 159],
        [159, 83, 79, 159, 84, 72, 65, 84, 5, 52, 7, 159],
        [13, 159, 80, 73, 78, 75, 1],
    ],
    "follow the text instruction to generate an image with the given objects' images, preserving the subject's identity a<imagehere>in the jungle": [
        [53, 5, 159, 84, 69, 88, 84, 54, 12, 56, 4, 17, 10, 5, 60, 61, 133, 62, 138, 57, 5, 58, 133, 83, 59, 3],
        [7, 5, 20, 1],
    ],
    "follow the text instruction to generate an image with the given objects' images, preserving the subject's identity a <imagehere> in the jungle": [
        [53, 5, 159, 84, 69, 88, 84, 54, 12, 56, 4, 17, 10, 5, 60, 61, 133, 62, 138, 57, 5, 58, 133, 83, 59, 3, 159],
        [7, 5, 20, 1],
    ],
    "subject-driven editing add<imagehere>to the bottom center of<imagehere>": [
        [58, 139, 68, 82, 73, 86, 69, 78, 64, 45],
        [12, 5, 159, 66, 79, 84, 84, 79, 77, 159, 67, 69, 78, 84, 69, 82, 6],
        [1],
    ],
    "<imagehere> on the beach": [[], [8, 5, 22, 1]],
    "a red<imagehere>": [[3, 23], [1]],
    "<imagehere><imagehere>": [[], [], [1]],
    "<imagehere>": [[], [1]],
    "": [[1]],
    " leading space and trailing space ": [
        [
            159,
            76,
            69,
            65,
            68,
            73,
            78,
            71,
            159,
            83,
            80,
            65,
            67,
            69,
            11,
            159,
            84,
            82,
            65,
            73,
            76,
            73,
            78,
            71,
            159,
            83,
            80,
            65,
            67,
            69,
            159,
            1,
        ]
    ],
    "repeated   spaces  inside   and trailing  ": [
        [
            159,
            82,
            69,
            80,
            69,
            65,
            84,
            69,
            68,
            159,
            83,
            80,
            65,
            67,
            69,
            83,
            7,
            83,
            73,
            68,
            69,
            11,
            159,
            84,
            82,
            65,
            73,
            76,
            73,
            78,
            71,
            159,
            1,
        ]
    ],
    "  two leading spaces": [[159, 84, 87, 79, 159, 76, 69, 65, 68, 73, 78, 71, 159, 83, 80, 65, 67, 69, 83, 1]],
    " <imagehere>   ": [[159], [159, 1]],
    "a\nnewline and a tab\tand\r\nwindows line end": [
        [
            3,
            159,
            78,
            69,
            87,
            76,
            73,
            78,
            69,
            11,
            3,
            159,
            84,
            65,
            66,
            11,
            159,
            87,
            73,
            78,
            68,
            79,
            87,
            83,
            159,
            76,
            73,
            78,
            69,
            159,
            69,
            78,
            68,
            1,
        ]
    ],
    "newline before a placeholder\n<imagehere>\nafter it": [
        [
            159,
            78,
            69,
            87,
            76,
            73,
            78,
            69,
            159,
            66,
            69,
            70,
            79,
            82,
            69,
            3,
            159,
            80,
            76,
            65,
            67,
            69,
            72,
            79,
            76,
            68,
            69,
            82,
            159,
        ],
        [3, 70, 84, 69, 82, 159, 73, 84, 1],
    ],
    "trailing newline\n": [[159, 84, 82, 65, 73, 76, 73, 78, 71, 159, 78, 69, 87, 76, 73, 78, 69, 159, 1]],
    "\n leading newline": [[159, 76, 69, 65, 68, 73, 78, 71, 159, 78, 69, 87, 76, 73, 78, 69, 1]],
    "ﬁre ＡＢＣ café": [[159, 70, 73, 82, 69, 159, 91, 92, 93, 159, 67, 65, 70, 2, 1]],
    "Make THE Image 2x, please! ": [
        [
            159,
            103,
            65,
            75,
            69,
            159,
            110,
            98,
            95,
            159,
            99,
            77,
            65,
            71,
            69,
            159,
            119,
            88,
            138,
            159,
            80,
            76,
            69,
            65,
            83,
            69,
            127,
            159,
            1,
        ]
    ],
    "an </s> inside": [[4, 159, 1, 7, 83, 73, 68, 69, 1]],
}


def authors_ids(tokenizer, prompt: str) -> list[list[int]]:
    """What the authors' ``get_context_emb`` computes: ids per segment, EOS appended to the last one."""
    segments = [tokenizer(segment, add_special_tokens=False).input_ids for segment in prompt.split("<imagehere>")]
    segments[-1] = segments[-1] + [tokenizer.eos_token_id]
    return segments


def main() -> None:
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import transformers
    from transformers import T5TokenizerFast

    if transformers.__version__ != "4.33.2":
        raise SystemExit(f"run this with transformers 4.33.2 (found {transformers.__version__}); see the docstring")
    tests = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as folder:
        # A separate process writes the file: sentencepiece's and transformers' protobuf modules both
        # register "sentencepiece_model.proto" and cannot be imported into one process.
        build = (
            f"import sys; sys.path.insert(0, {str(tests)!r}); import tiny_tokenizers; "
            f"tiny_tokenizers.t5_sentencepiece_folder({folder!r})"
        )
        subprocess.run([sys.executable, "-c", build], check=True)
        tokenizer = T5TokenizerFast.from_pretrained(folder)
        print("EXPECTED = {")
        for prompt in PROMPTS:
            print(f"    {prompt!r}:\n        {authors_ids(tokenizer, prompt)!r},")
        print("}")


if __name__ == "__main__":
    main()
