"""Scoring throughput of all six metrics on real DreamBench samples: project vs naive loop vs floor.

Not a test — it prints the figures for ``docs/performance.md``. Run from the repository root:

    python perf/scoring_throughput.py [--data ../shared/data/dreambench] [--samples 300]

Workload: the first ``--samples`` DreamBench samples (benchmark order), each with a distinct 512×512
PNG output on disk (another photo of its subject, resized and rotated by the prompt index, as a
generator would write it). ``dino``, ``clip_i``, ``clip_t`` score it against every DreamBooth photo
of the subject and the prompt; ``clip_dir``, ``l1``, ``l2`` treat it as an edit of the input photo
``00.jpg`` (source and reference; captions "a photo of a <class>" → prompt), since DreamBench defines
no pixel metrics. Backbones: tiny random CLIP/DINO built like the tests' (or ``--clip-model`` /
``--dino-model``), the same objects for all three contenders, on the CPU, cold feature cache.

- **project**: :class:`mige_eval.scoring.Scorer` in batches of ``--batch-size``, outputs decoded
  from disk batch by batch (streamed), references through the feature store.
- **naive**: what the MagicBrush evaluation script does — per sample, per metric, per reference
  pair: decode both images, preprocess, a forward pass of batch one each; l1 and l2 separately.
  Measured on every k-th sample (``--naive-samples`` of them); it has no reuse, so its time per
  sample does not depend on which samples it sees.
- **floor**: the work no implementation can skip, done once and batched, with nothing else:
  decode every distinct image once (references, outputs), apply each backbone's transform once,
  batched forward passes (images and distinct texts), one output→reference alignment per sample for
  l1 and l2, the cosines. No hashing, no cache, no per-sample bookkeeping.

Every file is read once before the clock starts (the same page cache for all). Floor and project
run ``--repeat`` times, alternating, and the fastest run of each counts: other processes share the
machine. Torch runs on ``--threads`` CPU threads (default 1): the tiny backbones' forward passes
are too small to split, and with two threads OpenMP's spin-waiting costs more CPU than the passes.
Peak memory: the project pipeline alone in a fresh process for each ``--memory`` count, read as that
process's ``VmHWM`` (Linux).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIX = ("dino", "clip_i", "clip_t", "clip_dir", "l1", "l2")


@dataclasses.dataclass
class Item:
    subject: object  # the DreamBench sample: dino, clip_i, clip_t
    edit: object  # the same output as an edit of 00.jpg: clip_dir, l1, l2
    output: Path


def tiny_backbones(folder: Path) -> tuple[Path, Path]:
    """The tests' tiny CLIP and DINO checkpoints (tests/tiny_models.py), saved under ``folder``."""
    sys.path.insert(0, str(REPO / "tests"))
    import tiny_models

    return tiny_models.save_tiny_clip(folder / "clip"), tiny_models.save_tiny_dino(folder / "dino")


def workload(data: Path, count: int, folder: Path) -> list[Item]:
    """The first ``count`` samples with their outputs (written to ``folder`` when missing)."""
    from mige_eval.benchmarks.open import open_benchmark
    from mige_eval.presets import Presets

    items = []
    for sample in list(open_benchmark("dreambench", data=data, presets=Presets.from_names([])).samples())[:count]:
        path = folder / f"{sample.id}.png"
        if not path.exists():
            photo = sample.references[(sample.meta["prompt_index"] + 1) % len(sample.references)].load()
            photo.resize((512, 512), Image.Resampling.BICUBIC).rotate(
                3 * sample.meta["prompt_index"], Image.Resampling.BICUBIC
            ).save(path)
        source = sample.instruction_images[0]
        edit = dataclasses.replace(
            sample,
            task="edit",
            source=source,
            references=(source,),
            input_caption=f"a photo of a {sample.meta['class_noun']}",
            output_caption=sample.caption,
        )
        items.append(Item(sample, edit, path))
    return items


class Clock:
    """CPU seconds of this process (all threads) per part, and wall seconds in total.

    CPU time is the measure: the machine is shared, and other tenants inflate wall time.
    """

    def __init__(self):
        self.parts: dict[str, float] = {}
        self.wall = 0.0

    def time(self, part, fn, *args):
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn(*args)
        self.parts[part] = self.parts.get(part, 0.0) + time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        return result

    @property
    def total(self) -> float:
        return sum(self.parts.values())


def project(items: list[Item], options, batch: int) -> tuple[Clock, list[dict]]:
    from mige_eval.images import load_path
    from mige_eval.metrics.backbones import backbone
    from mige_eval.metrics.base import ScoringContext
    from mige_eval.presets import Presets
    from mige_eval.scoring import Scorer

    ctx = ScoringContext(Presets.from_names([]), options)
    subject, direction = Scorer(["dino", "clip_i", "clip_t"], ctx), Scorer(["clip_dir"], ctx)
    pixels = Scorer(["l1", "l2"], ctx)
    for role in ("clip", "dino"):  # weights load before the clock starts, as for the other contenders
        backbone(ctx, role).model()
    backbone(ctx, "clip").tokenizer()
    clock, values = Clock(), []
    for i in range(0, len(items), batch):
        chunk = items[i : i + batch]
        outputs = clock.time("decode", lambda chunk=chunk: [load_path(it.output) for it in chunk])
        a = clock.time("features", subject.score, [it.subject for it in chunk], outputs)
        b = clock.time("features", direction.score, [it.edit for it in chunk], outputs)
        c = clock.time("pixels", pixels.score, [it.edit for it in chunk], outputs)
        for parts in zip(a, b, c):
            if any(p.error for p in parts):
                raise RuntimeError([p.error for p in parts])
            values.append({k: v for p in parts for k, v in p.metrics.items()})
    ctx.close()
    return clock, values


def naive(items: list[Item], bb: dict) -> tuple[Clock, list[dict]]:
    from mige_eval.images import load_path
    from mige_eval.metrics.pixel import l1_distance, l2_distance
    from mige_eval.metrics.similarity import clip_direction, cosine

    def image(role, img):
        return bb[role].encode_pixels(bb[role].pixels(img, role)[None])[0]

    def text(caption):
        return bb["clip"].encode_tokens(bb["clip"].tokenize([caption])[0])[0]

    def one(it):
        v = {}
        for name, role in (("dino", "dino"), ("clip_i", "clip")):
            v[name] = float(
                np.mean(
                    [
                        cosine(image(role, load_path(it.output)), image(role, ref.load()))
                        for ref in it.subject.references
                    ]
                )
            )
        v["clip_t"] = cosine(image("clip", load_path(it.output)), text(it.subject.caption))
        src, out = image("clip", it.edit.source.load()), image("clip", load_path(it.output))
        v["clip_dir"] = clip_direction(src, out, text(it.edit.input_caption), text(it.edit.output_caption))
        v["l1"] = l1_distance(load_path(it.output), it.edit.references[0].load())
        v["l2"] = l2_distance(load_path(it.output), it.edit.references[0].load())
        return v

    clock = Clock()
    return clock, [clock.time("all", one, it) for it in items]


def floor(items: list[Item], bb: dict, batch: int) -> tuple[Clock, list[dict]]:
    """The unavoidable work only (module docstring), batched."""
    from mige_eval.images import load_path
    from mige_eval.metrics.pixel import align
    from mige_eval.metrics.similarity import clip_direction, cosine, image_similarity

    def encode(imgs):
        return {
            role: bb[role].encode_pixels(np.stack([bb[role].pixels(im, role) for im in imgs]))
            for role in ("dino", "clip")
        }

    def references():
        refs = list({r.label: r for it in items for r in it.subject.references}.values())
        feats: dict[str, dict[str, np.ndarray]] = {"dino": {}, "clip": {}}
        for i in range(0, len(refs), batch):
            chunk = refs[i : i + batch]
            for role, rows in encode([r.load() for r in chunk]).items():
                feats[role].update(zip((r.label for r in chunk), rows))
        texts = list(dict.fromkeys(t for it in items for t in (it.subject.caption, it.edit.input_caption)))
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            feats.setdefault("text", {}).update(zip(chunk, bb["clip"].encode_tokens(bb["clip"].tokenize(chunk)[0])))
        return feats

    def features(chunk, outputs):
        out = encode(outputs)
        for j, it in enumerate(chunk):
            v = {
                name: image_similarity(out[role][j], np.stack([ref[role][r.label] for r in it.subject.references]))
                for name, role in (("dino", "dino"), ("clip_i", "clip"))
            }
            v["clip_t"] = cosine(out["clip"][j], ref["text"][it.subject.caption])
            v["clip_dir"] = clip_direction(
                ref["clip"][it.edit.source.label],
                out["clip"][j],
                ref["text"][it.edit.input_caption],
                ref["text"][it.edit.output_caption],
            )
            values.append(v)

    def pixel_distances(chunk, outputs, first):
        for j, it in enumerate(chunk):
            if it.edit.source.label != source[0]:  # items come subject by subject: decode each source once
                source[:] = [it.edit.source.label, it.edit.source.load()]
            a, b = align(outputs[j], source[1])
            diff = a - b  # once for both metrics, as the project does
            values[first + j].update(l1=float(np.abs(diff).mean()), l2=float(np.square(diff).mean()))

    clock, values, source = Clock(), [], [None, None]
    ref = clock.time("features", references)
    for i in range(0, len(items), batch):
        chunk = items[i : i + batch]
        outputs = clock.time("decode", lambda chunk=chunk: [load_path(it.output) for it in chunk])
        clock.time("features", features, chunk, outputs)
        clock.time("pixels", pixel_distances, chunk, outputs, i)
    return clock, values


def max_difference(a: list[dict], b: list[dict]) -> float:
    return max(abs(x[m] - y[m]) for x, y in zip(a, b) for m in SIX)


def peak_rss_mb() -> float:
    """This process's own high-water mark (``VmHWM``). Not ``ru_maxrss``: a child started from this big
    process inherits the parent's peak in it, so every size would read as the parent's."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dreambench")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--naive-samples", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2, help="runs of floor and project; the fastest counts")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (see the module docstring)")
    parser.add_argument("--memory", default="75,150,300", help="sample counts for the peak-memory runs ('' = none)")
    parser.add_argument("--clip-model"), parser.add_argument("--dino-model")
    parser.add_argument("--work", type=Path, help="folder for backbones and outputs (default: a temporary one)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    from mige_eval.metrics.backbones import Backbone
    from mige_eval.metrics.base import ScoringOptions

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="mige-perf-"))
    (work / "outputs").mkdir(parents=True, exist_ok=True)
    if args.clip_model and args.dino_model:
        clip, dino = args.clip_model, args.dino_model
    elif (work / "backbones").exists():
        clip, dino = str(work / "backbones" / "clip"), str(work / "backbones" / "dino")
    else:
        clip, dino = (str(p) for p in tiny_backbones(work / "backbones"))

    def options(tag: str):
        return ScoringOptions(
            clip_model=clip,
            dino_model=dino,
            device="cpu",
            batch_size=args.batch_size,
            cache_dir=Path(tempfile.mkdtemp(prefix=f"cache-{tag}-", dir=work)),
        )

    if args.memory_child:
        project(workload(args.data, args.memory_child, work / "outputs"), options("mem"), args.batch_size)
        print(f"{peak_rss_mb():.1f}")
        return

    items = workload(args.data, max([args.samples] + [int(n) for n in args.memory.split(",") if n]), work / "outputs")[
        : args.samples
    ]
    bb = {role: Backbone(role, model, "cpu") for role, model in (("clip", clip), ("dino", dino))}
    for role in bb:  # load and warm up outside the clock
        bb[role].encode_pixels(np.zeros((1, 3, 224, 224), np.float32))
    bb["clip"].encode_tokens(bb["clip"].tokenize(["warm up"])[0])
    stride = max(1, len(items) // args.naive_samples)
    naive_items = items[::stride][: args.naive_samples]

    for it in items:  # every file read once before any clock: the same page cache for everyone
        it.output.read_bytes()
        for ref in it.subject.references:
            ref.read()
    runs = []
    for _ in range(args.repeat):  # alternate, keep each contender's fastest run: the machine is shared
        runs.append((floor(items, bb, args.batch_size), project(items, options("cold"), args.batch_size)))
    t_floor, floor_values = min((r[0] for r in runs), key=lambda r: r[0].total)
    t_project, values = min((r[1] for r in runs), key=lambda r: r[0].total)
    t_naive, naive_values = naive(naive_items, bb)

    print(
        f"DreamBench samples: {len(items)} ({len({it.subject.meta['subject'] for it in items})} subjects), six "
        f"metrics {', '.join(SIX)}; batch size {args.batch_size}; backbones {clip} / {dino}; torch CPU threads "
        f"{torch.get_num_threads()}"
    )
    report(len(items), len(naive_items), t_floor, t_project, t_naive)
    on_naive = [values[items.index(it)] for it in naive_items]
    print(
        f"same numbers: project vs floor {max_difference(values, floor_values):.1e}, project vs naive "
        f"{max_difference(on_naive, naive_values):.1e} (max abs difference, all samples x 6 metrics)"
    )
    for count in [int(c) for c in args.memory.split(",") if c]:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                str(count),
                "--work",
                str(work),
                "--data",
                str(args.data),
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(args.threads),
                "--clip-model",
                clip,
                "--dino-model",
                dino,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"peak RSS scoring {count:>4} samples: {out.stdout.strip().splitlines()[-1]} MB")


def report(n: int, nn: int, t_floor: Clock, t_project: Clock, t_naive: Clock) -> None:
    print(
        f"{'contender':<9} {'samples':>7} {'CPU s':>7} {'samples/CPU s':>13} {'CPU ms/sample':>13} {'wall s':>7}"
        "   CPU ms/sample: decode outputs / dino+clip_i+clip_t+clip_dir / l1+l2"
    )
    for name, count, clock in (("floor", n, t_floor), ("project", n, t_project), ("naive", nn, t_naive)):
        parts = " / ".join(
            f"{1000 * clock.parts[p] / count:.1f}" for p in ("decode", "features", "pixels") if p in clock.parts
        )
        print(
            f"{name:<9} {count:>7} {clock.total:>7.2f} {count / clock.total:>13.2f} "
            f"{1000 * clock.total / count:>13.1f} {clock.wall:>7.2f}   {parts}"
        )
    print(
        f"project vs naive: {(n / t_project.total) / (nn / t_naive.total):.1f}x the throughput (target >= 5x); "
        f"project vs floor: {t_project.total / t_floor.total:.2f}x the time (target <= 1.3x); feature metrics "
        f"alone {t_project.parts['features'] / t_floor.parts['features']:.2f}x, pixel metrics alone "
        f"{t_project.parts['pixels'] / t_floor.parts['pixels']:.2f}x"
    )


if __name__ == "__main__":
    main()
