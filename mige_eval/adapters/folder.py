"""``folder``: score images generated elsewhere (``mige-eval score --images DIR``).

Each sample's image is ``DIR/<sample id>.png`` (or ``.jpg``, ``.jpeg``, ``.webp``). A benchmark may
accept other published file names for a sample (``meta["output_aliases"]``, e.g. the MagicBrush
script's ``<id>_1.png``). Missing ids are listed before any work and fail as samples.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from mige_eval.images import IMAGE_SUFFIXES, load_path
from mige_eval.store import safe_id
from mige_eval.types import TASKS, Adapter, Request


class Folder(Adapter):
    name = "folder"
    tasks = frozenset(TASKS)
    description = "Images made elsewhere: DIR/<sample id>.png, .jpg or .webp (mige-eval score --images DIR)"
    license = "none (no weights)"

    def __init__(self, *, images: str | Path):
        self.images = Path(images).expanduser()
        if not self.images.is_dir():
            raise ValueError(f"image folder {self.images} does not exist")
        self._index: dict[str, list[Path]] = {}
        for path in sorted(self.images.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                self._index.setdefault(path.stem, []).append(path)

    def _find(self, sample_id: str, aliases: Sequence[str] = ()) -> Path | None:
        for stem in (sample_id, safe_id(sample_id), *aliases):
            found = self._index.get(stem, [])
            if len(found) > 1:
                raise ValueError(f"sample {sample_id}: several files match in {self.images}: "
                                 + ", ".join(p.name for p in found))
            if found:
                return found[0]
        return None

    def preflight(self, samples: Sequence[tuple[str, dict]]) -> list[str]:
        """Warnings before any work: which of the (id, meta) samples have no image."""
        sample_ids = [i for i, _ in samples]
        missing = [i for i, meta in samples if self._find(i, meta.get("output_aliases", ())) is None]
        if not missing:
            return []
        shown = ", ".join(missing[:20]) + (f", ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
        return [f"{len(missing)} of {len(sample_ids)} samples have no image in {self.images} "
                f"(looked for <id>{'/'.join(IMAGE_SUFFIXES)}; they will fail): {shown}"]

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        outputs = []
        for req in requests:
            path = self._find(req.id, req.meta.get("output_aliases", ()))
            if path is None:
                raise LookupError(f"no image for sample {req.id} in {self.images} "
                                        f"(expected {req.id}.png, .jpg, .jpeg or .webp)")
            outputs.append(load_path(path))
        return outputs

    def config(self) -> dict:
        return {"images": str(self.images.resolve())}
