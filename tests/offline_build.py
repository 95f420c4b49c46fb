"""Building and installing this repository's packages in tests: offline, and never inside the source tree.

pip and setuptools write ``build/`` and ``*.egg-info`` beside the sources they build, so the sources are
copied to a temporary folder first. Every pip call passes ``--no-index`` (no package index is asked,
whatever PIP_INDEX_URL says), ``--no-deps`` and ``--no-build-isolation``: the build backend is the
setuptools of the environment running the tests (the dev extra's torch brings one), not a download.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

#: What a copy of a source tree leaves out: VCS data, environments, build outputs, caches, run results.
IGNORED = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "results")
OFFLINE = ["--no-index", "--no-deps", "--no-build-isolation", "--disable-pip-version-check", "--quiet"]


def copy_sources(source: Path, target: Path) -> Path:
    """A copy of ``source`` at ``target`` without :data:`IGNORED`; returns ``target``."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    return target


def pip(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    """``python -m pip <command> <offline options> <rest>``."""
    command, *rest = args
    return subprocess.run([python, "-m", "pip", command, *OFFLINE, *rest], capture_output=True, text=True, timeout=600)
