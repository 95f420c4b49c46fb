"""What ``run.json`` records about the machine and software a run used."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("mige-eval", "torch", "transformers", "diffusers", "pillow", "numpy")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_sha() -> str | None:
    """The commit of the mige-eval source tree, when it runs from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def device_info(requested: str) -> dict[str, Any]:
    """The device actually used when torch is loaded; without torch nothing ran on an accelerator."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"requested": requested, "used": "cpu (no torch model was loaded)"}
    cuda = torch.cuda.is_available()
    used = ("cuda" if cuda else "cpu") if requested == "auto" else requested
    info: dict[str, Any] = {"requested": requested, "used": used, "cuda_available": cuda}
    if cuda and used.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(used))
    return info


def describe(requested_device: str) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_sha": git_sha(),
        "device": device_info(requested_device),
    }


def command() -> list[str]:
    """This process's command line, as the history of a run records it."""
    return list(sys.argv)
