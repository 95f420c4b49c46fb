"""Whole-process speed of ``mige-eval score`` against the naive per-pair loop and the floor.

Not a test — it prints the figures for ``docs/performance.md``. Run from the repository root:

    python perf/score_command.py [--data ../shared/data/dreambench] [--samples 150]

Workload: ``dino``, ``clip_i`` and ``clip_t`` on the first ``--samples`` real DreamBench samples, each
with a distinct 512×512 PNG output on disk (written by ``perf/scoring_throughput.py``'s ``workload``);
``dino`` / ``clip_i`` compare it with every DreamBooth photo of its subject. Backbones: the tests' tiny
random CLIP and DINO of the real architectures (``tests/tiny_models.py``), saved to disk and loaded
from there by every contender. With tiny backbones the forward passes cost almost nothing, so what is
measured is everything around them — start-up, decoding, preprocessing, storing, bookkeeping — which
is where an implementation can waste time; with real backbones on a GPU the ratios are smaller.

Each contender is one fresh process, timed from the outside (CPU = user + system time of the
process, as ``time`` reports it; wall time too), with a fresh feature cache, loading its backbones:

- **mige-eval**: ``mige-eval score --bench dreambench --images DIR --metrics dino,clip_i,clip_t`` into a
  new run directory (the console script a user runs).
- **naive**: what the field's scripts do (MagicBrush ``evaluation/image_eval.py``): per sample, per
  metric and per reference pair, decode both images again, preprocess, a forward pass of batch one.
- **floor**: the work no implementation can skip: every distinct image decoded and preprocessed once,
  batched forward passes (images and distinct captions), the cosines; nothing stored.

Every contender runs with ``OMP_NUM_THREADS=1`` (two shared cores here: OpenMP spin-waiting would be
measured otherwise). The machine is shared, so mige-eval and the floor run ``--repeat`` times,
alternating, and the fastest run of each counts; the naive loop runs once (it is the slow one).
The three produce the same numbers (checked at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METRICS = ("dino", "clip_i", "clip_t")


def samples(data: Path, count: int) -> list:
    from mige_eval.benchmarks.open import open_benchmark
    from mige_eval.presets import Presets

    return list(open_benchmark("dreambench", data=data, presets=Presets.from_names([])).samples())[:count]


def backbones(clip: str, dino: str) -> dict:
    from mige_eval.metrics.backbones import Backbone

    return {"clip": Backbone("clip", clip, "cpu"), "dino": Backbone("dino", dino, "cpu")}


def naive(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Per pair: decode both images, preprocess, encode with a batch of one; nothing is reused."""
    import numpy as np

    from mige_eval.images import load_path
    from mige_eval.metrics.similarity import cosine

    bb = backbones(args.clip_model, args.dino_model)

    def image(role, img):
        return bb[role].encode_pixels(bb[role].pixels(img, role)[None])[0]

    values = {}
    for sample in samples(args.data, args.samples):
        output = args.images / f"{sample.id}.png"
        v = {
            name: float(
                np.mean([cosine(image(role, load_path(output)), image(role, ref.load())) for ref in sample.references])
            )
            for name, role in (("dino", "dino"), ("clip_i", "clip"))
        }
        text = bb["clip"].encode_tokens(bb["clip"].tokenize([sample.caption])[0])[0]
        v["clip_t"] = cosine(image("clip", load_path(output)), text)
        values[sample.id] = v
    return values


def floor(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Each distinct image decoded and preprocessed once, batched forward passes, the cosines."""
    import numpy as np

    from mige_eval.images import load_path
    from mige_eval.metrics.similarity import cosine, image_similarity

    bb = backbones(args.clip_model, args.dino_model)
    items = samples(args.data, args.samples)
    batch = args.batch_size

    def encode(images):
        return {
            role: bb[role].encode_pixels(np.stack([bb[role].pixels(im, role) for im in images]))
            for role in ("dino", "clip")
        }

    refs = list({r.label: r for s in items for r in s.references}.values())
    feats: dict[str, dict[str, np.ndarray]] = {"dino": {}, "clip": {}}
    for i in range(0, len(refs), batch):
        chunk = refs[i : i + batch]
        for role, rows in encode([r.load() for r in chunk]).items():
            feats[role].update(zip((r.label for r in chunk), rows))
    captions = list(dict.fromkeys(s.caption for s in items))
    text = {}
    for i in range(0, len(captions), batch):
        chunk = captions[i : i + batch]
        text.update(zip(chunk, bb["clip"].encode_tokens(bb["clip"].tokenize(chunk)[0])))
    values = {}
    for i in range(0, len(items), batch):
        chunk = items[i : i + batch]
        out = encode([load_path(args.images / f"{s.id}.png") for s in chunk])
        for j, s in enumerate(chunk):
            v = {
                name: image_similarity(out[role][j], np.stack([feats[role][r.label] for r in s.references]))
                for name, role in (("dino", "dino"), ("clip_i", "clip"))
            }
            v["clip_t"] = cosine(out["clip"][j], text[s.caption])
            values[s.id] = v
    return values


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process and everything it waits for."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall


def prepare(args: argparse.Namespace, work: Path) -> tuple[str, str]:
    """Backbones and outputs, made in a child process (this one stays small and imports no torch)."""
    clip, dino = work / "backbones" / "clip", work / "backbones" / "dino"
    if not (clip.exists() and dino.exists() and len(list((work / "outputs").glob("*.png"))) >= args.samples):
        code = (
            "import sys; from pathlib import Path; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "import scoring_throughput as st; w = Path(sys.argv[3]); "
            "st.tiny_backbones(w / 'backbones'); (w / 'outputs').mkdir(exist_ok=True); "
            "st.workload(Path(sys.argv[4]), int(sys.argv[5]), w / 'outputs')"
        )
        subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                str(REPO / "perf"),
                str(REPO / "tests"),
                str(work),
                str(args.data),
                str(args.samples),
            ],
            check=True,
            capture_output=True,
        )
    return str(clip), str(dino)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dreambench")
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs of mige-eval and floor; the fastest counts")
    parser.add_argument("--work", type=Path, help="folder for backbones and outputs (default: a temporary one)")
    parser.add_argument("--contender", choices=("naive", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--clip-model", help=argparse.SUPPRESS)
    parser.add_argument("--dino-model", help=argparse.SUPPRESS)
    parser.add_argument("--values", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        args.values.write_text(json.dumps((naive if args.contender == "naive" else floor)(args)))
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="mige-perf-score-"))
    clip, dino = prepare(args, work)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cli = shutil.which("mige-eval", path=str(Path(sys.executable).parent)) or "mige-eval"
    common = ["--images", str(work / "outputs"), "--clip-model", clip, "--dino-model", dino]

    def project(run: int) -> tuple[float, float]:
        out, cache = work / f"run-{run}", work / f"cache-{run}"
        shutil.rmtree(out, ignore_errors=True), shutil.rmtree(cache, ignore_errors=True)
        return timed(
            [
                cli,
                "score",
                "--bench",
                "dreambench",
                "--data",
                str(args.data),
                "--out",
                str(out),
                "--metrics",
                ",".join(METRICS),
                "--limit",
                str(args.samples),
                "--device",
                "cpu",
                "--batch-size",
                str(args.batch_size),
                "--cache-dir",
                str(cache),
                "--quiet",
                *common,
            ],
            env,
        )

    def contender(name: str) -> tuple[float, float]:
        return timed(
            [
                sys.executable,
                __file__,
                "--contender",
                name,
                "--data",
                str(args.data),
                "--samples",
                str(args.samples),
                "--batch-size",
                str(args.batch_size),
                "--values",
                str(work / f"{name}.json"),
                *common,
            ],
            env,
        )

    runs = {"mige-eval": [], "floor": []}
    for run in range(args.repeat):  # alternate: the machine is shared
        runs["mige-eval"].append(project(run))
        runs["floor"].append(contender("floor"))
    best = {name: min(times) for name, times in runs.items()}
    best["naive"] = contender("naive")

    n = args.samples
    print(
        f"mige-eval score, whole process: {n} DreamBench samples, {', '.join(METRICS)}; tiny backbones "
        f"{clip} / {dino}; OMP_NUM_THREADS=1; fresh feature cache; fastest of {args.repeat} for mige-eval and "
        f"floor, one naive run"
    )
    print(f"{'contender':<10} {'CPU s':>7} {'wall s':>7} {'CPU ms/sample':>14}")
    for name in ("floor", "mige-eval", "naive"):
        cpu, wall = best[name]
        print(f"{name:<10} {cpu:>7.2f} {wall:>7.2f} {1000 * cpu / n:>14.1f}")
    print(
        f"all runs (CPU s): mige-eval {', '.join(f'{c:.2f}' for c, _ in runs['mige-eval'])}; "
        f"floor {', '.join(f'{c:.2f}' for c, _ in runs['floor'])}"
    )
    print(
        f"mige-eval vs naive: {best['naive'][0] / best['mige-eval'][0]:.1f}x faster (CPU; target >= 5x), "
        f"{best['naive'][1] / best['mige-eval'][1]:.1f}x (wall)"
    )
    print(
        f"mige-eval vs floor: {best['mige-eval'][0] / best['floor'][0]:.2f}x the time (CPU; target <= 1.3x), "
        f"{best['mige-eval'][1] / best['floor'][1]:.2f}x (wall)"
    )
    ours = {}
    for line in (work / "run-0" / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        ours[record["id"]] = record["metrics"]
    for name in ("floor", "naive"):
        theirs = json.loads((work / f"{name}.json").read_text())
        diff = max(abs(ours[i][m] - theirs[i][m]) for i in theirs for m in METRICS)
        print(f"same numbers: mige-eval vs {name}: max abs difference {diff:.1e} over {len(theirs)} samples x 3")


if __name__ == "__main__":
    main()
