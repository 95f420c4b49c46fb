"""Getting a benchmark's published files onto disk, and checking them afterwards.

Two published forms are fetched: a Hugging Face dataset repository at a pinned commit (through the
normal HF cache, so ``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_HUB_CACHE`` behave as everywhere else)
and a source archive of a GitHub repository at a pinned commit. Checksums come from two manifests:
the one ``download`` writes next to the data (``mige-eval-manifest.json``: sha256 of every file as
fetched), and the HF cache's own, where a snapshot file is a link to a blob named by its sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mige_eval.benchmarks.base import DataError, data_option

MANIFEST = "mige-eval-manifest.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Folders a download leaves beside the data that are not part of it (the HF client's local-dir state).
_SKIP = (".cache",)


def hub_snapshot(source: dict[str, Any], *, name: str, local_dir: Path | None = None) -> Path:
    """The dataset repository at the card's revision: from the HF cache, downloaded into it if needed
    (or into ``local_dir``). Raises :class:`DataError` with what to do when it cannot be had."""
    repo, revision = source["repo"], source.get("revision", "main")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise DataError(
            f"{name}: reading {repo} from the Hugging Face hub needs huggingface_hub "
            f"(pip install 'mige-eval[data]'), or pass {data_option(name)} with a local copy"
        ) from exc
    try:
        path = snapshot_download(
            repo_id=repo,
            repo_type="dataset",
            revision=revision,
            allow_patterns=source.get("allow_patterns"),
            local_dir=local_dir,
        )
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{name}: cannot get the dataset {repo} at revision {revision} from the Hugging Face hub or its "
            f"cache ({type(exc).__name__}: {exc}). Run `mige-eval download --bench {name}` once while online "
            f"(with HF_HUB_OFFLINE unset) to fill the cache, or pass {data_option(name)} with a local copy "
            f"({source.get('layout', 'see docs/benchmarks.md')})."
        ) from exc
    return Path(path)


def github_archive(source: dict[str, Any], *, name: str, to: Path) -> Path:
    """Download the card's ``archive`` (a .tar.gz of the repository at the pinned commit) and put its
    ``path`` folder at ``to``."""
    url, inner = source["archive"], source.get("path", "")
    if to.exists() and any(to.iterdir()):
        raise DataError(f"{name}: {to} exists and is not empty; choose another --out or remove it")
    with tempfile.TemporaryDirectory(prefix="mige-eval-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DataError(
                f"{name}: cannot download {url} ({exc}). Download it by hand, unpack it and pass "
                f"its '{inner}' folder with {data_option(name)}."
            ) from exc
        try:
            with tarfile.open(archive, "r:gz") as tar:
                _extract(tar, Path(tmp) / "x")
        except (tarfile.TarError, OSError) as exc:
            raise DataError(f"{name}: the archive from {url} cannot be unpacked: {exc}") from exc
        tops = [p for p in (Path(tmp) / "x").iterdir() if p.is_dir()]
        folder = tops[0] / inner if len(tops) == 1 else None
        if folder is None or not folder.is_dir():
            raise DataError(f"{name}: the archive from {url} has no single top folder holding '{inner}'")
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, to, dirs_exist_ok=True)
    return to


def _extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Unpack refusing members that would land outside ``dest`` (absolute paths, ``..``, links)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    for member in tar.getmembers():  # Pythons without extraction filters
        target = (dest / member.name).resolve()
        if member.issym() or member.islnk() or dest.resolve() not in target.parents:
            raise tarfile.TarError(f"unsafe archive member {member.name!r}")
    tar.extractall(dest)


def data_files(root: Path) -> list[Path]:
    """Every file of a dataset copy, sorted, without the manifest and download state."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != MANIFEST and not any(part in _SKIP for part in p.relative_to(root).parts)
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(root: Path, source: dict[str, Any]) -> Path:
    """Record the sha256 of every file as downloaded, so ``verify`` can tell later changes."""
    files = {p.relative_to(root).as_posix(): sha256_file(p) for p in data_files(root)}
    path = root / MANIFEST
    path.write_text(json.dumps({"source": source, "files": files}, indent=1, sort_keys=True), encoding="utf-8")
    return path


def expected_checksums(root: Path) -> dict[str, str]:
    """relative path -> sha256 from every manifest there is: ours, else the HF cache's blob names."""
    manifest = root / MANIFEST
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"manifest {manifest} is unreadable: {exc}") from exc
        return {str(k): str(v) for k, v in files.items()}
    sums = {}
    for path in data_files(root):
        if path.is_symlink():
            blob = Path(path.readlink()).name
            if _SHA256.match(blob):
                sums[path.relative_to(root).as_posix()] = blob
    return sums


def checksum_problems(root: Path) -> list[str]:
    """Files missing or changed against the manifest (none when no manifest exists)."""
    problems = []
    for rel, expected in sorted(expected_checksums(root).items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(path) != expected:
            problems.append(f"{rel}: sha256 differs from the manifest (file changed or corrupt)")
    return problems
