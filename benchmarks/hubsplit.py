"""One split of a Hugging Face dataset, read lazily from the files the hub or ``datasets`` wrote.

Two published forms are read with pyarrow alone (no ``datasets`` import):

- a hub snapshot: ``data/<split>-NNNNN-of-NNNNN[-hash].parquet`` shards (the folder itself or its
  ``data/`` subfolder), read in shard order;
- ``datasets.save_to_disk`` output: ``<split>/`` of a saved ``DatasetDict`` (or the folder of a saved
  ``Dataset``) with ``state.json`` listing its ``data-*.arrow`` files, memory-mapped.

:meth:`SplitTable.columns` reads the small index columns only, never the image bytes. An image column
is a struct of ``bytes`` and ``path`` (the ``datasets.Image`` feature); :meth:`SplitTable.image` returns
an :class:`~mige_eval.images.ImageRef` whose bytes are read when a stage decodes it, one parquet row
group at a time (the last few kept, since samples are taken in order).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from mige_eval.benchmarks.base import DataError
from mige_eval.images import ImageRef

#: Row groups kept decoded-from-parquet (not image-decoded); hub image shards use ~100 rows per group.
_CACHED_GROUPS = 2


def _shard_pattern(split: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(split)}-(\d{{5}})-of-(\d{{5}})(-[0-9a-f]+)?\.parquet$")


def _check_complete(shards: list[Path], pattern: re.Pattern[str], what: str) -> None:
    """The shards ``K-of-N`` must be K = 0..N-1 of one N, each once: a partly copied snapshot would
    otherwise load as a smaller benchmark without a word."""
    found = [tuple(int(g) for g in pattern.match(p.name).group(1, 2)) for p in shards]
    totals = {n for _, n in found}
    expected = [(k, n) for n in sorted(totals) for k in range(n)]
    if len(totals) == 1 and sorted(found) == expected:
        return
    missing = [f"{k:05d}-of-{n:05d}" for k, n in expected if (k, n) not in found]
    raise DataError(
        f"{what}: the parquet shards in {shards[0].parent} are not one complete set "
        f"(found {', '.join(p.name for p in shards)}"
        + (f"; missing {', '.join(missing)}" if missing else "")
        + "); copy or download the whole split again"
    )


class SplitTable:
    """The rows of one split across its files, in published order."""

    def __init__(self, root: Path, files: list[Path], fmt: str, what: str = "dataset"):
        self.root, self.files, self.format, self.what = root, files, fmt, what
        self._tables: list[Any] = []  # arrow: memory-mapped tables
        self._parquet: list[Any] = []  # parquet: ParquetFile handles
        self._starts: list[int] = []  # first global row of each file
        self._groups: OrderedDict[tuple[int, int, str], Any] = OrderedDict()
        pa, pq = _pyarrow()
        total = 0
        for path in files:
            self._starts.append(total)
            try:
                if fmt == "parquet":
                    handle = pq.ParquetFile(path)
                    self._parquet.append(handle)
                    total += handle.metadata.num_rows
                else:
                    table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
                    self._tables.append(table)
                    total += table.num_rows
            except (OSError, pa.ArrowException) as exc:
                raise DataError(f"{what}: {self.label(path)} is not a readable {fmt} file: {exc}") from exc
        self.num_rows = total

    @classmethod
    def locate(cls, root: Path, split: str, *, what: str) -> SplitTable:
        """Find ``split`` under ``root`` in either published form."""
        pattern = _shard_pattern(split)
        for folder in (root / "data", root):
            shards = sorted(p for p in folder.glob(f"{split}-*.parquet") if pattern.match(p.name))
            if shards:
                _check_complete(shards, pattern, what)
                return cls(root, shards, "parquet", what)
        for folder in (root / split, root):
            state = folder / "state.json"
            if state.is_file():
                return cls(root, _arrow_files(state, what), "arrow", what)
        raise DataError(
            f"{what}: no '{split}' split under {root}: expected a hub snapshot "
            f"(data/{split}-00000-of-0000N-<hash>.parquet ...) or datasets.save_to_disk output "
            f"({split}/state.json with data-*.arrow files)"
        )

    def label(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    @property
    def column_names(self) -> list[str]:
        if self.format == "parquet":
            return list(self._parquet[0].schema_arrow.names) if self._parquet else []
        return list(self._tables[0].column_names) if self._tables else []

    def require(self, names: list[str], what: str) -> None:
        """Every file has these columns (a file that lacks one fails the benchmark)."""
        for i, path in enumerate(self.files):
            have = self._parquet[i].schema_arrow.names if self.format == "parquet" else self._tables[i].column_names
            missing = [n for n in names if n not in have]
            if missing:
                raise DataError(
                    f"{what}: {self.label(path)} lacks the column(s) {', '.join(missing)}; it has {', '.join(have)}"
                )

    def columns(self, names: list[str]) -> dict[str, list[Any]]:
        """The named (small) columns of every row as Python values; image bytes are not read."""
        pa, _ = _pyarrow()
        out: dict[str, list[Any]] = {n: [] for n in names}
        for i, path in enumerate(self.files):
            try:
                table = (
                    self._parquet[i].read(columns=names) if self.format == "parquet" else self._tables[i].select(names)
                )
                for name in names:
                    out[name].extend(table.column(name).to_pylist())
            except (OSError, pa.ArrowException) as exc:  # a corrupt page: name the file, not just the codec
                raise DataError(
                    f"{self.what}: {self.label(path)}: cannot read the column(s) {', '.join(names)}: {exc}"
                ) from exc
        return out

    def where(self, row: int) -> str:
        """``file#row N`` for messages and image labels (N counts within the file)."""
        index = self._file_of(row)
        return f"{self.label(self.files[index])}#row {row - self._starts[index]}"

    def image(self, row: int, column: str) -> ImageRef:
        """The image in ``column`` of global row ``row``, read on demand."""
        return ImageRef(f"{self.where(row)}/{column}", lambda: self._image_bytes(row, column))

    def _file_of(self, row: int) -> int:
        if not 0 <= row < self.num_rows:
            raise IndexError(f"row {row} outside 0..{self.num_rows - 1}")
        index = 0
        while index + 1 < len(self._starts) and self._starts[index + 1] <= row:
            index += 1
        return index

    def _image_bytes(self, row: int, column: str) -> bytes:
        index = self._file_of(row)
        local = row - self._starts[index]
        if self.format == "arrow":
            value = self._tables[index].column(column)[local].as_py()
        else:
            value = self._parquet_value(index, local, column)
        data = value.get("bytes") if isinstance(value, dict) else value
        if not isinstance(data, (bytes, bytearray)) or not data:
            # An OSError becomes the sample's ImageDecodeError, naming the file, row and column.
            raise OSError(f"no embedded image bytes (the {column!r} value is {value!r:.80})")
        return bytes(data)

    def _parquet_value(self, index: int, local: int, column: str) -> Any:
        meta = self._parquet[index].metadata
        group, start = 0, 0
        while start + meta.row_group(group).num_rows <= local:
            start += meta.row_group(group).num_rows
            group += 1
        key = (index, group, column)
        if key not in self._groups:
            pa, _ = _pyarrow()
            try:
                self._groups[key] = self._parquet[index].read_row_group(group, columns=[column]).column(column)
            except (OSError, pa.ArrowException) as exc:  # an OSError: the ImageRef names file, row, column
                raise OSError(f"cannot read row group {group} of the {column!r} column: {exc}") from exc
            if len(self._groups) > _CACHED_GROUPS:
                self._groups.popitem(last=False)
        self._groups.move_to_end(key)
        return self._groups[key][local - start].as_py()


def _arrow_files(state: Path, what: str) -> list[Path]:
    try:
        names = [entry["filename"] for entry in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{what}: {state} is not a datasets.save_to_disk state file: {exc}") from exc
    files = []
    for name in names:
        path = state.parent / name  # unresolved, so that labels stay relative to the dataset root
        if state.parent.resolve() not in path.resolve().parents or not path.is_file():
            raise DataError(f"{what}: {state} lists {name!r}, which is not a file in {state.parent}")
        files.append(path)
    return files


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError("reading hub datasets needs pyarrow: pip install 'mige-eval[data]'") from exc
    return pa, pq
