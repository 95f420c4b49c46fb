"""Subject-crop throughput: crops per second, and the share of subject scoring spent extracting them.

Not a test — it prints the figures for ``docs/subject.md`` / ``docs/performance.md``. From the repository root:

    python perf/subject_crops.py [--data ../shared/data/dreambench] [--samples 64] [--batch-size 16]

Workload: ``--samples`` 512×512 outputs (MIGE's output size) — DreamBench photos resized, prompted
with their class noun ("a dog"), or random noise when the dataset is absent — each scored by
``subject_dino`` and ``subject_clip_i`` against a 512×512 subject photo. Models: the tests' tiny random
GroundingDINO, SAM, CLIP and DINO of the real architectures (tests/tiny_grounding.py,
tests/tiny_models.py) on the CPU; their processors resize to 64 px, not 800 / 1024, so the figures
measure the pipeline around the models, not the models. Weights load before the clock starts.

Runs, each in a fresh scoring context:

- **cold**: empty crop and feature caches, batches of ``--batch-size``;
- **cold, batch 1**: the same one sample at a time (no detector / SAM batching);
- **warm**: a rerun on the same cache folder: every crop and feature comes from the caches.

"extraction" is the time inside ``SubjectExtractor.crops`` (cache look-ups, detector, SAM, crop,
writing ``crops/<id>.png`` and the cache entry); the rest is decoding the subject photos and the
CLIP/DINO features.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def tiny_models(folder: Path) -> dict[str, Path]:
    sys.path.insert(0, str(REPO / "tests"))
    import tiny_grounding
    import tiny_models as tm

    return {
        "clip_model": tm.save_tiny_clip(folder / "clip"),
        "dino_model": tm.save_tiny_dino(folder / "dino"),
        "detector_model": tiny_grounding.save_tiny_grounding_dino(folder / "gdino"),
        "sam_model": tiny_grounding.save_tiny_sam(folder / "sam"),
    }


def workload(data: Path | None, count: int):
    """``count`` (sample, output) pairs; outputs and subject photos 512×512."""
    from mige_eval.images import ImageRef, encode_png
    from mige_eval.types import Sample

    photos: list[tuple[Image.Image, str]] = []
    if data is not None and (data / "prompts_and_classes.txt").is_file():
        for folder in sorted(p for p in data.iterdir() if p.is_dir()):
            for path in sorted(folder.glob("*.jpg")):
                with Image.open(path) as img:
                    photos.append((img.convert("RGB").resize((512, 512), Image.Resampling.BICUBIC), folder.name))
                if len(photos) >= count + 1:
                    break
            if len(photos) >= count + 1:
                break
    rng = np.random.RandomState(0)
    while len(photos) < count + 1:
        photos.append((Image.fromarray(rng.randint(0, 256, (512, 512, 3), np.uint8), "RGB"), "object"))
    subject = ImageRef.from_bytes(encode_png(photos[0][0]), "entity.png")
    return [
        (
            Sample(
                id=f"s{i:04d}",
                task="subject_add",
                subset="add",
                instruction="",
                object=f"a {noun}",
                subject_photo=subject,
            ),
            img,
        )
        for i, (img, noun) in enumerate(photos[1 : count + 1])
    ]


def score(pairs, options, run_dir: Path, batch: int) -> dict[str, float]:
    from mige_eval.metrics.backbones import backbone
    from mige_eval.metrics.base import ScoringContext
    from mige_eval.metrics.crops import subject_extractor
    from mige_eval.presets import Presets
    from mige_eval.scoring import Scorer

    ctx = ScoringContext(Presets.from_names([]), options, run_dir=run_dir)
    scorer = Scorer(["subject_dino", "subject_clip_i"], ctx)
    extractor = subject_extractor(ctx)
    for service in (extractor.detector, extractor.segmenter):  # weights load before the clock starts
        service.model(), service.processor()
    for role in ("clip", "dino"):
        backbone(ctx, role).model()
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        for result in scorer.score([s for s, _ in chunk], [o for _, o in chunk]):
            if result.error:
                raise RuntimeError(result.error)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    figures = {"wall": wall, "cpu": cpu, "extraction": extractor.seconds}
    scorer.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dreambench")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from mige_eval.metrics.base import ScoringOptions

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {k: str(v) for k, v in tiny_models(folder / "models").items()}
        pairs = workload(args.data, args.samples)
        runs = {}
        for name, batch, cache in (
            ("cold", args.batch_size, "a"),
            ("cold, batch 1", 1, "b"),
            ("warm", args.batch_size, "a"),
        ):
            options = ScoringOptions(device="cpu", batch_size=batch, cache_dir=folder / cache, **models)
            runs[name] = score(pairs, options, folder / "runs" / name.replace(", ", "-"), batch)
    print(f"{args.samples} outputs 512x512, batch size {args.batch_size}, {args.threads} torch thread(s), CPU")
    print(f"{'run':<15} {'crops/s':>8} {'ms/sample':>10} {'extraction share':>17} {'CPU s':>7}")
    for name, r in runs.items():
        print(
            f"{name:<15} {args.samples / r['extraction']:>8.1f} {1000 * r['wall'] / args.samples:>10.1f} "
            f"{r['extraction'] / r['wall']:>16.0%} {r['cpu']:>7.2f}"
        )


if __name__ == "__main__":
    main()
