"""Per-sample overhead of the runner (not a test): what the harness adds to a model's own time.

Runs the real DreamBench through the runner with
  * ``copy-source`` (decode the subject photo, encode the PNG, write the record), and
  * a null model returning a fixed 512×512 image (the output size of MIGE and the diffusers
    baselines): everything the harness does per sample around a real model,
and times the pieces on their own: JPEG decode of an input photo, PNG encode of the output, and a
record append. Usage: ``python perf/runner_overhead.py [--data DIR] [--limit N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from mige_eval.images import ImageRef, encode_png
from mige_eval.runner import RunOptions, run
from mige_eval.store import Journal
from mige_eval.types import TASKS, Adapter


def photo_512(path: Path) -> Image.Image:
    return ImageRef.from_path(path).load().resize((512, 512), Image.Resampling.BICUBIC)


class NullModel(Adapter):
    """Generation takes no time (a real photo at 512×512 every time): the run measures the harness alone."""

    name = "null-512"
    tasks = frozenset(TASKS)

    def __init__(self, *, photo: str):
        self.output = photo_512(Path(photo))

    def generate(self, requests):
        return [self.output for _ in requests]


def timed_run(model: str, data: Path, limit: int, out: Path, **model_args: str) -> float:
    start = time.perf_counter()
    opts = RunOptions(
        bench="dreambench", model=model, data=data, out=out, metrics="none", limit=limit, model_args=model_args
    )
    opts.scoring.batch_size = 8
    run(opts)
    return (time.perf_counter() - start) / limit


def per_call(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    default = Path(os.environ.get("MIGE_EVAL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default / "data" / "dreambench")
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    sample_photo = args.data / "backpack" / "02.jpg"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        copy = timed_run("copy-source", args.data, args.limit, tmp / "copy")
        null = timed_run(
            f"{Path(__file__).resolve()}:NullModel", args.data, args.limit, tmp / "null", photo=str(sample_photo)
        )
        photo = ImageRef.from_path(sample_photo)
        decoded = photo.load()
        decode = per_call(photo.load, 10)
        encode_photo = per_call(lambda: encode_png(decoded), 5)
        output = photo_512(sample_photo)
        encode_512 = per_call(lambda: encode_png(output), 20)
        with Journal(tmp / "j.jsonl") as journal:
            record = {
                "id": "x" * 12,
                "subset": "object",
                "task": "subject",
                "image": "images/x.png",
                "seed": 1,
                "references": [f"backpack/0{i}.jpg" for i in range(6)],
                "caption": "a backpack in the jungle",
                "metrics": {},
                "flags": [],
                "error": None,
            }
            append = per_call(lambda: journal.append(record), 2000)
    print(f"samples per run: {args.limit} (DreamBench order, batch size 8), python {sys.version.split()[0]}")
    print(f"copy-source, whole run:            {copy * 1000:8.1f} ms/sample")
    print(f"null 512x512 model, whole run:     {null * 1000:8.1f} ms/sample  (harness overhead around a model)")
    print(
        f"  decode one input photo {decoded.size[0]}x{decoded.size[1]}:  {decode * 1000:8.1f} ms "
        "(once per subject, memoised)"
    )
    print(f"  PNG encode of that photo:        {encode_photo * 1000:8.1f} ms")
    print(f"  PNG encode of a 512x512 output:  {encode_512 * 1000:8.1f} ms")
    print(f"  journal append of a record:      {append * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
