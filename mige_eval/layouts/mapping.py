"""A mapping file for any other layout: which file is which sample's output.

CSV with a header line naming the columns ``id`` and ``path`` (other columns are ignored), or JSONL
with one ``{"id": ..., "path": ...}`` object per line. ``id`` is the benchmark's sample id; ``path`` is
absolute or relative to the mapping file's folder. A sample listed twice is ambiguous; a listed file
that does not exist fails its sample; ids the benchmark does not have are unmatched.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from mige_eval.images import ImageRef
from mige_eval.layouts.base import Layout, LayoutError, Matching, SampleKey

SUFFIXES = (".csv", ".jsonl")


class MappingFile(Layout):
    name = "mapping"
    summary = 'a CSV (header id,path) or JSONL ({"id", "path"}) file given as --images'

    @classmethod
    def applies(cls, root: Path, bench: str | None) -> bool:
        return root.is_file() and root.suffix.lower() in SUFFIXES

    def match(self, samples: Sequence[SampleKey]) -> Matching:
        entries: dict[str, list[tuple[str, str]]] = {}
        for where, sample_id, path in self._entries():
            entries.setdefault(sample_id, []).append((where, path))
        matching = Matching(self.name, f"the sample ids listed in {self.root}")
        wanted = set()
        for sample_id, _ in samples:
            wanted.add(sample_id)
            listed = entries.get(sample_id, [])
            if len(listed) > 1:
                matching.ambiguous.append(f"sample {sample_id}: {' and '.join(w for w, _ in listed)}")
            if not listed:
                matching.missing[sample_id] = f"{self.root.name} does not list it"
                continue
            where, raw = listed[0]
            path = self.root.parent / Path(raw).expanduser()
            if not path.is_file():
                matching.missing[sample_id] = f"{where} names {path}, which is not a file"
                continue
            matching.found[sample_id] = ImageRef.from_path(path, raw)
        matching.unmatched = [f"{w} (id {i})" for i, listed in entries.items() if i not in wanted for w, _ in listed]
        return matching

    def _entries(self) -> list[tuple[str, str, str]]:
        """(where, id, path) of every entry, in file order."""
        name = self.root.name
        try:
            text = self.root.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise LayoutError(f"cannot read mapping file {self.root}: {exc}") from exc
        if self.root.suffix.lower() == ".csv":
            rows = csv.DictReader(text.splitlines())
            if not {"id", "path"} <= set(rows.fieldnames or ()):
                raise LayoutError(
                    f"mapping file {self.root} needs a header line naming the columns id and path "
                    f"(it starts with {(rows.fieldnames or ['nothing'])!r})"
                )
            records = [(f"{name} line {n}", row) for n, row in enumerate(rows, start=2)]
        else:
            records = []
            for n, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        records.append((f"{name} line {n}", json.loads(line)))
                    except json.JSONDecodeError as exc:
                        raise LayoutError(f"{name} line {n} is not JSON: {exc}") from exc
        out = []
        for where, record in records:
            values = [record.get(key) if isinstance(record, dict) else None for key in ("id", "path")]
            if not all(isinstance(v, str) and v.strip() for v in values):
                raise LayoutError(f"{where}: expected an id and a path (strings), got {record!r:.100}")
            out.append((where, values[0].strip(), values[1].strip()))
        return out
