"""The gallery's image folder: every image it shows, copied in full and, when large, as a thumbnail.

The gallery must keep working when it is moved or opened on another machine, so it never points
at the run directories or the dataset: full-size files are hard-linked (copied across file systems, or
when the source's permissions differ from those of a new file here, so that the umask decides who can
read the gallery) or, for images stored inside dataset files, written out; images larger than the thumbnail size get a
JPEG thumbnail made with Pillow. Each image is stored once, however many samples show it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from mige_eval.images import FORMAT_SUFFIXES as SUFFIXES
from mige_eval.images import decode


@dataclass(frozen=True)
class Shown:
    """Paths relative to the gallery folder: what the page displays and what it links to."""

    thumb: str
    full: str


class ImageFolder:
    def __init__(self, root: Path, thumb_size: int = 256):
        self.root = root
        self.thumb_size = thumb_size
        self._done: dict[str, Shown | None] = {}
        self.problems: list[str] = []
        (root / "full").mkdir(parents=True, exist_ok=True)
        (root / "thumbs").mkdir(parents=True, exist_ok=True)
        self.file_mode = new_file_mode(root / "full")

    @staticmethod
    def _key(origin: str) -> str:
        return hashlib.sha1(origin.encode("utf-8")).hexdigest()[:20]

    def file(self, path: Path, origin: str) -> Shown | None:
        """An image file (a run's output or crop, a dataset photo); None with a problem noted if unreadable."""
        return self._add(
            origin, path.suffix.lower() or ".png", lambda target: _link_or_copy(path, target, self.file_mode)
        )

    def data(self, read: Callable[[], bytes], origin: str) -> Shown | None:
        """An image given by its encoded bytes (e.g. a row of a parquet file)."""

        def write(target: Path) -> None:
            target.write_bytes(read())

        return self._add(origin, "", write)

    def _add(self, origin: str, suffix: str, write: Callable[[Path], None]) -> Shown | None:
        if origin in self._done:
            return self._done[origin]
        key = self._key(origin)
        try:
            full = self.root / "full" / (key + suffix)
            full.unlink(missing_ok=True)  # a stale link would keep an image the run has since replaced
            write(full)
            data = full.read_bytes()
            if not suffix:
                fmt = Image.open(io.BytesIO(data)).format or "PNG"
                full = full.rename(full.with_suffix(SUFFIXES.get(fmt, "." + fmt.lower())))
            shown = Shown(self._thumbnail(data, key, origin, full), f"full/{full.name}")
        except (OSError, ValueError) as exc:
            self.problems.append(f"image {origin} not shown: {exc}")
            shown = None
        self._done[origin] = shown
        return shown

    def _thumbnail(self, data: bytes, key: str, origin: str, full: Path) -> str:
        img = decode(data, origin)
        if max(img.size) <= self.thumb_size:
            return f"full/{full.name}"
        img.thumbnail((self.thumb_size, self.thumb_size), Image.Resampling.LANCZOS)
        target = self.root / "thumbs" / f"{key}.jpg"
        img.save(target, "JPEG", quality=85)
        return f"thumbs/{target.name}"


def _link_or_copy(source: Path, target: Path, mode: int) -> None:
    """A hard link when the source already has ``mode``, the permissions of a new file here (a link shares the
    source's: a run's 0600 image would make a served gallery show nothing), else a copy, which gets ``mode``."""
    try:
        if stat.S_IMODE(source.stat().st_mode) == mode:
            os.link(source, target)
            return
    except OSError:
        pass
    shutil.copyfile(source, target)


def new_file_mode(folder: Path) -> int:
    """The permission bits a file created in ``folder`` gets (0666 less the umask, or the folder's default ACL)."""
    probe = folder / f".mode-probe-{os.getpid()}"
    probe.touch()
    try:
        return stat.S_IMODE(probe.stat().st_mode)
    finally:
        probe.unlink()
