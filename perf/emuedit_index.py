"""Cost of the lazy Emu Edit loader on a full-size split (not a test): index load and image decode.

Builds, in a temporary folder, a synthetic ``facebook/emu_edit_test_set`` test split with the real
shape: 3,589 rows in the hub layout (three ``data/test-0000K-of-00003-<hash>.parquet`` shards written
by ``datasets``, row groups of 100 rows as the hub writes image datasets), the card's eight task
counts and 690 identical-caption rows, and real-size JPEG bytes: the 158 DreamBench photos resized to
512×512 and encoded at quality 90 (~70 KB each; every row's bytes made unique by a JPEG comment, so
parquet cannot dictionary-encode repeats away). Then, each in a fresh process (its own peak RSS):

- **index**: list all 3,589 samples (``EmuEdit.samples()``: index columns only, no image bytes);
- **decode, in order**: decode the sources of the first ``--decode`` samples, benchmark order (a run);
- **decode, strided**: the same count taking every 8th sample (one shard of ``--shard I/8``).

Usage: ``python perf/emuedit_index.py [--data ../shared/data/dreambench] [--decode 500] [--repeat 3]``.
Times are medians of ``--repeat`` fresh processes; RSS is the largest peak of those runs, next to the
resident set after the imports (Python, pyarrow, mige-eval) that every run starts from.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ROWS, SHARDS, ROW_GROUP = 3589, 3, 100
STRIDE = 8


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (``VmHWM``) or current (``VmRSS``) resident set. Linux's ``ru_maxrss`` is not
    used: a child started by ``subprocess`` inherits the parent's peak, here the build's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def photo_jpegs(dreambench: Path) -> list[bytes]:
    out = []
    for path in sorted(dreambench.glob("*/*.jpg")):
        with Image.open(path) as img:
            buf = io.BytesIO()
            img.convert("RGB").resize((512, 512), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
            out.append(buf.getvalue())
    return out


def unique(jpeg: bytes, n: int) -> bytes:
    """The same picture with a COM segment naming the row right after the start-of-image marker."""
    comment = f"mige-eval perf row {n}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def build(root: Path, dreambench: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from emuedit_data import row, write_hub_snapshot
    from mige_eval.benchmarks.emuedit import EmuEdit

    card = EmuEdit.builtin_card()
    tasks = [t for t, n in card.extra["task_counts"].items() for _ in range(n)]
    identical = card.expected["identical_captions"]
    jpegs = photo_jpegs(dreambench)
    rows = []
    for n in range(ROWS):
        before = f"a photo, row {n}"
        after = before if n % 5 == 0 and n // 5 < identical else f"an edited photo, row {n}"
        rows.append(
            row(
                n,
                unique(jpegs[n % len(jpegs)], n),
                task=tasks[(n * 7) % ROWS],
                instruction=f"edit number {n}: make it different",
                input_caption=before,
                output_caption=after,
            )
        )
    sizes = [ROWS // SHARDS + (i < ROWS % SHARDS) for i in range(SHARDS)]
    write_hub_snapshot(root, rows, sizes=sizes, row_group_size=ROW_GROUP)
    return root


def child(phase: str, root: Path, count: int) -> dict:
    """One measurement in this (fresh) process."""
    import pyarrow.parquet  # noqa: F401 - imported before the baseline: the loader needs it anyway

    from mige_eval.benchmarks.emuedit import EmuEdit
    from mige_eval.images import decode

    baseline = rss_mb("VmRSS")
    start = time.perf_counter()
    samples = list(EmuEdit(EmuEdit.builtin_card(), data=root).samples())
    index_s = time.perf_counter() - start
    result = {"samples": len(samples), "index_s": index_s, "rss_before_mb": baseline}
    if phase != "index":
        chosen = samples[:count] if phase == "decode-order" else samples[::STRIDE][:count]
        read_s = decode_s = 0.0
        for sample in chosen:  # what ImageRef.load does (read, then decode), timed in its two parts
            start = time.perf_counter()
            data = sample.source.read()
            middle = time.perf_counter()
            decode(data, sample.source.label)
            read_s, decode_s = read_s + middle - start, decode_s + time.perf_counter() - middle
        result.update(read_s=read_s, decode_s=decode_s, decoded=len(chosen))
    result["rss_peak_mb"] = rss_mb()
    return result


def measure(phase: str, root: Path, count: int, repeat: int) -> list[dict]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", phase, "--root", str(root), "--decode", str(count)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dreambench")
    parser.add_argument("--decode", type=int, default=500, help="images decoded per decode run")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per measurement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.root, args.decode)))
        return

    with tempfile.TemporaryDirectory(prefix="mige-emu-perf-") as tmp:
        start = time.perf_counter()
        root = build(Path(tmp) / "emu_edit_test_set", args.data)
        built = time.perf_counter() - start
        shards = sorted((root / "data").glob("*.parquet"))
        size_mb = sum(p.stat().st_size for p in shards) / 1e6
        print(
            f"synthetic split: {ROWS} rows, {len(shards)} shards, {size_mb:.0f} MB "
            f"({size_mb * 1e3 / ROWS:.0f} KB/row), row groups of {ROW_GROUP}; built in {built:.0f} s; "
            f"python {sys.version.split()[0]}; medians of {args.repeat} fresh processes"
        )
        for path in shards:  # the same warm page cache for every measurement
            path.read_bytes()
        index = measure("index", root, args.decode, args.repeat)
        t = statistics.median(r["index_s"] for r in index)
        label = f"index load (list {index[0]['samples']} samples)"
        print(
            f"{label:<44} {t:7.3f} s  {ROWS / t:9.0f} rows/s   "
            f"peak RSS {max(r['rss_peak_mb'] for r in index):.0f} MB "
            f"(after imports {max(r['rss_before_mb'] for r in index):.0f} MB)"
        )
        for phase, label in (("decode-order", "in benchmark order"), ("decode-strided", f"every {STRIDE}th sample")):
            runs = measure(phase, root, args.decode, args.repeat)
            t = statistics.median(r["read_s"] + r["decode_s"] for r in runs)
            read, jpeg = (statistics.median(r[k] for r in runs) for k in ("read_s", "decode_s"))
            n = runs[0]["decoded"]
            print(
                f"{f'decode {n} sources, {label}':<44} {t:7.3f} s  {n / t:9.1f} img/s  {1000 * t / n:6.2f} ms/img "
                f"(parquet read {1000 * read / n:.2f} + JPEG decode {1000 * jpeg / n:.2f})   "
                f"peak RSS {max(r['rss_peak_mb'] for r in runs):.0f} MB"
            )


if __name__ == "__main__":
    main()
