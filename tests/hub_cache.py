"""An offline Hugging Face cache holding one model folder at a fixed commit, for hub-id loading tests."""

from __future__ import annotations

import shutil
from pathlib import Path


def offline_hub(tmp_path: Path, monkeypatch, folder: Path, repo_id: str, commit: str) -> Path:
    """Copy ``folder`` into a cache as ``repo_id`` at ``commit`` (``refs/main`` → it); point the hub there, offline."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache
