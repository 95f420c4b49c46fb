"""Time to the "not available locally" error of a model adapter without network (not a test).

Runs ``mige-eval run --bench dreambench --model M --limit 1 --metrics none`` in a fresh process with an
empty Hugging Face cache and ``HF_HUB_OFFLINE`` unset, against
  * ``default``: the configured endpoint (huggingface.co unless HF_ENDPOINT says otherwise); on a machine
    without network its name lookup or connection usually fails at once;
  * ``dropping``: an endpoint on 127.0.0.1 that ignores connection attempts, as a firewall that drops
    packets does (tests/fake_hub.py), where every hub request waits for its timeout,
and prints the wall time and the error's first words. Usage:
``python perf/offline_hub.py [--data DIR] [--model blip-diffusion] [--endpoint default|dropping]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def time_run(model: str, data: Path, endpoint: str | None) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env["HF_HOME"] = str(Path(tmp) / "hf")
        if endpoint:
            env["HF_ENDPOINT"] = endpoint
        command = [
            sys.executable,
            "-m",
            "mige_eval",
            "run",
            "--bench",
            "dreambench",
            "--data",
            str(data),
            "--model",
            model,
            "--limit",
            "1",
            "--metrics",
            "none",
            "--out",
            str(Path(tmp) / "run"),
            "--quiet",
        ]
        start = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        seconds = time.monotonic() - start
    error = next((line for line in result.stderr.splitlines() if line.startswith("error:")), result.stderr[-200:])
    return seconds, f"exit {result.returncode}: {error[:160]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dreambench")
    parser.add_argument("--model", default="blip-diffusion")
    parser.add_argument("--endpoint", choices=("default", "dropping"), action="append")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    import fake_hub

    for kind in args.endpoint or ["default", "dropping"]:
        with fake_hub.dropping_hub() if kind == "dropping" else contextlib.nullcontext() as url:
            seconds, outcome = time_run(args.model, args.data, url)
        print(f"{kind:9s} {args.model}: {seconds:6.1f} s  {outcome}")


if __name__ == "__main__":
    main()
