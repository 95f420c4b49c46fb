"""The run directory: atomic image files, append-only event journals, merged ``samples.jsonl``.

Layout (docs/design.md, contract)::

    run.json  summary.json  samples.jsonl  images/<id>.<png|jpg|webp|...>  records/<shard>.jsonl

A model's output is written as lossless PNG. An output that already exists as a file (``mige-eval
score``) is stored byte for byte under the suffix of its format, so ``images/<id>.jpg`` is the very JPEG
that was scored; a sample has at most one stored image, of whichever suffix.

Each process appends the events it finishes (:mod:`mige_eval.records`) to its own journal under
``records/`` (one per shard, locked, fsync'd at checkpoints), so shards never write the same file. A
journal file is created only when its first event is written, so a command that produces nothing
leaves the directory as it was. ``samples.jsonl`` is the merge of all journals, one line per sample,
in benchmark order; it is rewritten atomically, under a lock, only when its content changes. A process
killed at any moment leaves at worst a torn last journal line, which is ignored and cut off when the
journal is next opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from mige_eval.images import FORMAT_SUFFIXES, EncodedImage, encode_png
from mige_eval.records import fold

#: Suffixes a stored output can have, PNG (every model's output) first.
STORED_SUFFIXES = tuple(dict.fromkeys([".png", *FORMAT_SUFFIXES.values()]))

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")


def safe_id(sample_id: str) -> str:
    """A file-name-safe form of a sample id; ids that need changing get a hash suffix to stay unique."""
    if _SAFE.match(sample_id) and not sample_id.endswith("."):
        return sample_id
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", sample_id).strip("._")[:120] or "sample"
    return f"{cleaned}-{hashlib.sha1(sample_id.encode()).hexdigest()[:10]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over the target.

    The temporary file is created with mode 0666 less the umask, like any file the user's programs
    write (``tempfile.mkstemp`` would make it 0600 whatever the umask, and a gallery that hard-links
    the run's images could then not be served).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _new_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` (``.<name>.<random>.tmp``), open for writing, permissions from the umask."""
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` unless it already holds exactly ``data``; True when written."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            return False
    atomic_write_bytes(path, data)
    return True


def dump_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def record_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


class Journal:
    """One process's append-only event file, created and exclusively locked on the first append.

    :meth:`claim` takes the lock without writing, so a second process on the same shard is refused
    before it does any work.
    """

    def __init__(self, path: Path, fsync_every: int = 32):
        self.path = path
        self._fh = None
        self._fsync_every = fsync_every
        self._unsynced = 0
        self.appended = 0

    def claim(self) -> None:
        """Refuse early if another process holds this journal (nothing is created)."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._busy() from None

    def _busy(self) -> RuntimeError:
        return RuntimeError(
            f"another mige-eval process is writing {self.path}; two processes may not run the same shard "
            "into one run directory (give each process its own --shard)"
        )

    def _open(self):
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+b")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise self._busy() from None
            _cut_torn_tail(fh)
            self._fh = fh
        return self._fh

    def append(self, record: dict[str, Any]) -> None:
        fh = self._open()
        fh.write((record_line(record) + "\n").encode("utf-8"))
        fh.flush()
        self.appended += 1
        self._unsynced += 1
        if self._unsynced >= self._fsync_every:
            self.sync()

    def sync(self) -> None:
        if self._fh is not None and self._unsynced:
            os.fsync(self._fh.fileno())
            self._unsynced = 0

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self.sync()
            self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_tail(fh) -> None:
    """Drop a partial last line left by a killed process, so the next append starts on a fresh line."""
    fh.seek(0)
    data = fh.read()
    if data and not data.endswith(b"\n"):
        fh.truncate(data.rfind(b"\n") + 1)
    fh.seek(0, os.SEEK_END)


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """Complete records of a journal; a torn last line is skipped."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.images = self.root / "images"
        self.journals = self.root / "records"

    def image_path(self, sample_id: str) -> Path:
        """The sample's stored output, whatever its suffix; the PNG path when there is none yet."""
        stem = safe_id(sample_id)
        for suffix in STORED_SUFFIXES:
            path = self.images / f"{stem}{suffix}"
            if path.is_file():
                return path
        return self.images / f"{stem}.png"

    def image_name(self, sample_id: str) -> str:
        """``images/<file>``: how records name the stored output."""
        return f"images/{self.image_path(sample_id).name}"

    def has_image(self, sample_id: str) -> bool:
        return self.image_path(sample_id).is_file()

    def save_output(self, sample_id: str, output: Image.Image | EncodedImage) -> Image.Image:
        """Store one output and return its pixels for scoring.

        A model's image is written as lossless PNG. An :class:`EncodedImage` is decoded first (a file
        that does not decode is never stored and raises ``ImageDecodeError``), then written byte for
        byte under its format's suffix; only a format no browser shows is stored as PNG instead.
        """
        if isinstance(output, EncodedImage):
            img, suffix = output.open()
            data, suffix = (output.data, suffix) if suffix else (encode_png(img), ".png")
        else:
            img, data, suffix = output, encode_png(output), ".png"
        stem = safe_id(sample_id)
        for other in STORED_SUFFIXES:  # a previous output in another format goes first: one image per sample
            if other != suffix:
                (self.images / f"{stem}{other}").unlink(missing_ok=True)
        atomic_write_bytes(self.images / f"{stem}{suffix}", data)
        return img

    def journal(self, shard: str) -> Journal:
        return Journal(self.journals / f"{shard}.jsonl")

    def journal_files(self) -> list[Path]:
        return sorted(self.journals.glob("*.jsonl")) if self.journals.is_dir() else []

    def records(self) -> dict[str, dict[str, Any]]:
        """Every sample's record: the events of all journals folded (:func:`mige_eval.records.fold`)."""
        events = (e for path in self.journal_files() for e in read_journal(path) if isinstance(e, dict) and "id" in e)
        return fold(events)

    def journal_sizes(self) -> dict[str, int]:
        """Bytes in each journal: a merge is due when they differ from those the last merge saw."""
        return {path.name: path.stat().st_size for path in self.journal_files()}

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise merges between processes sharing the run directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write_samples(self, records: Iterable[dict[str, Any]]) -> bool:
        data = "".join(record_line(r) + "\n" for r in records).encode("utf-8")
        return write_if_changed(self.root / "samples.jsonl", data)

    def read_json(self, name: str) -> dict[str, Any] | None:
        path = self.root / name
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def write_json(self, name: str, obj: Any) -> bool:
        return write_if_changed(self.root / name, dump_json(obj))
