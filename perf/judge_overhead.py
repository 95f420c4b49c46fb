"""What the judge metrics cost besides the judge's own inference (not a test).

A judge's answer takes seconds on a GPU; this measures everything mige-eval adds around it, on the CPU:

- **prepare**: the images as each prompt shows them: GEdit-Bench's (a ``--source``-px source, the output
  resized to it, pixel hashes; PNG bytes only when sent) and DreamBench++'s (512 px JPEG, decoded back);
- **request**: building one SC request body for a server (PNG encode, base64, JSON);
- **score, server**: ``vie_sc``, ``vie_pq``, ``vie_o`` through the scorer against a chat-completions
  server on 127.0.0.1 that answers at once (the tests' ``chat_server``), ``--concurrency`` requests in
  flight: the client, HTTP, cache and record overhead per sample;
- **score, cached**: the same samples again in a new scorer on the same cache (a rerun or a second report).

Usage: ``python perf/judge_overhead.py [--samples 64] [--source 1024] [--output 512] [--concurrency 8]``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def per_item(action, items) -> float:
    start = time.perf_counter()
    for item in items:
        action(item)
    return (time.perf_counter() - start) / len(items)


def photo(rng, side: int) -> Image.Image:
    """A photo-like image (smooth gradients plus noise), so PNG and JPEG do real work."""
    y, x = np.mgrid[0:side, 0:side] / side
    base = np.stack([x, y, (x + y) / 2], -1) * 200 + rng.normal(0, 12, (side, side, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--source", type=int, default=1024, help="source side (MIGEBench: 1024, Emu Edit: 512)")
    parser.add_argument("--output", type=int, default=512, help="output side")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from chat_server import ChatServer, Reply, inspect
    from mige_eval.images import ImageRef
    from mige_eval.metrics.base import ScoringContext, ScoringOptions
    from mige_eval.metrics.judge_http import openai_messages
    from mige_eval.metrics.judge_prompts import load_prompt, prepare_dreambench_plus, prepare_gedit
    from mige_eval.presets import Presets
    from mige_eval.scoring import Scorer
    from mige_eval.types import Sample

    rng = np.random.default_rng(0)
    sources = [photo(rng, args.source) for _ in range(4)]
    outputs = [photo(rng, args.output) for _ in range(args.samples)]
    pairs = [(sources[i % 4], out) for i, out in enumerate(outputs)]
    gedit = per_item(lambda p: prepare_gedit(*p), pairs)
    dbp = per_item(lambda p: prepare_dreambench_plus(p[1]), pairs)
    prompt = load_prompt("vie_sc")
    request = (
        per_item(
            lambda p: json.dumps(
                {"messages": openai_messages(prompt.render(prepare_gedit(*p), {"instruction": "make it blue"}))}
            ),
            pairs[:16],
        )
        - gedit
    )

    def ref(img: Image.Image, label: str) -> ImageRef:
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return ImageRef.from_bytes(buf.getvalue(), label)

    refs = [ref(s, f"src{i}.png") for i, s in enumerate(sources)]
    samples = [
        Sample(id=f"s{i}", task="edit", subset="test", instruction=f"edit {i}", prompt=f"edit {i}", source=refs[i % 4])
        for i in range(args.samples)
    ]

    def reply(body):
        return Reply('{"score": [7, 8], "reasoning": "ok"}') if inspect(body)["prompt"] == "vie_sc" else Reply("[9, 6]")

    timings = {}
    with tempfile.TemporaryDirectory() as tmp, ChatServer(reply) as server:
        for label in ("server", "cached"):
            ctx = ScoringContext(
                Presets.from_names([]),
                ScoringOptions(
                    judge_url=server.url,
                    judge_model="perf",
                    judge_concurrency=args.concurrency,
                    batch_size=32,
                    cache_dir=Path(tmp) / "cache",
                ),
                run_dir=Path(tmp) / label,
            )
            scorer = Scorer(["vie_sc", "vie_pq", "vie_o"], ctx)
            start = time.perf_counter()
            for i in range(0, args.samples, 32):
                results = scorer.score(samples[i : i + 32], outputs[i : i + 32])
                assert all(r.error is None for r in results), results
            timings[label] = (time.perf_counter() - start) / args.samples
            scorer.close()
        sent = len(server.chats)
    print(f"{args.samples} samples, source {args.source} px, output {args.output} px, concurrency {args.concurrency}")
    print(f"prepare, GEdit-Bench (source + resized output, hashes): {gedit * 1e3:7.2f} ms / sample")
    print(f"prepare, DreamBench++ (512 px JPEG, decoded back):      {dbp * 1e3:7.2f} ms / image")
    print(f"request body, SC (2 PNG + base64 + JSON):               {request * 1e3:7.2f} ms / request")
    print(
        f"score vie_sc+vie_pq+vie_o, instant server:              {timings['server'] * 1e3:7.2f} ms / sample "
        f"({sent} requests)"
    )
    print(f"score vie_sc+vie_pq+vie_o, all cached:                  {timings['cached'] * 1e3:7.2f} ms / sample")


if __name__ == "__main__":
    main()
