"""Typed, located access to the records of a dataset file.

A published dataset file holds rows written by hand or by other people's scripts, so every field is
checked for its type as it is read. A bad row raises :class:`RowError` naming the file, the row and the
field; the loader turns it into a :class:`~mige_eval.types.BrokenSample` so that one bad row costs one
sample and nothing else. A file that is wrong as a whole (not JSON, not a list) raises
:class:`~mige_eval.benchmarks.base.DataError` instead and stops the benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mige_eval.benchmarks.base import DataError
from mige_eval.types import count_placeholders


class RowError(DataError):
    """One row cannot be used; the message names the file, the row and the field."""


class Row:
    """One record (a JSON object or a table row) and where it came from, e.g. ``add_bench.json row 3``."""

    def __init__(self, record: Any, where: str):
        if not isinstance(record, dict):
            raise RowError(f"{where}: expected an object with named fields, got {type(record).__name__}")
        self.record = record
        self.where = where

    def error(self, field: str, problem: str) -> RowError:
        return RowError(f"{self.where}, field {field!r}: {problem}")

    def _get(self, field: str, kinds: tuple[type, ...], kind_name: str) -> Any:
        if field not in self.record or self.record[field] is None:
            raise self.error(field, "missing")
        value = self.record[field]
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise self.error(field, f"expected {kind_name}, got {type(value).__name__} {value!r:.60}")
        return value

    def text(self, field: str, *, allow_empty: bool = False) -> str:
        """A string field; blank strings are refused unless ``allow_empty``."""
        value = self._get(field, (str,), "a string")
        if not allow_empty and not value.strip():
            raise self.error(field, "empty")
        return value

    def optional_text(self, field: str) -> str | None:
        """A string field that may be absent or null."""
        if self.record.get(field) is None:
            return None
        return self._get(field, (str,), "a string")

    def integer(self, field: str) -> int:
        return self._get(field, (int,), "an integer")

    def text_list(self, field: str) -> list[str]:
        """A non-empty list of non-empty strings (paths, usually)."""
        value = self._get(field, (list,), "a list of strings")
        if not value:
            raise self.error(field, "empty list")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(field, f"item {i} is {item!r:.60}, expected a non-empty string")
        return value

    def instruction(self, field: str, n_images: int) -> str:
        """A multimodal instruction: non-empty, with one ``<imagehere>`` per instruction image."""
        value = self.text(field)
        found = count_placeholders(value)
        if found != n_images:
            raise self.error(
                field,
                f"has {found} <imagehere> placeholder(s) but the row gives {n_images} "
                "instruction image(s); they must match one to one",
            )
        return value


def read_json(path: Path, what: str) -> Any:
    """A whole JSON file; unreadable or invalid JSON fails the benchmark with the file's name."""
    if not path.is_file():
        raise DataError(f"{what} {path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what} {path} is not readable JSON: {exc}") from exc
