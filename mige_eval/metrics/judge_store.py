"""Where judge answers are kept: a cache shared by runs, and a record in each run directory.

- :class:`AnswerCache`: ``judgements.sqlite`` in the feature cache folder (``--cache-dir``, default
  ``<user cache dir>/mige-eval/features``; ``--no-cache`` turns it off). One row per request key — a hash
  of the judge's identity and decoding and of the rendered conversation (texts, image encodings and
  pixel hashes) — holding the raw answer. Answers are written as they arrive, so an interrupted run
  resumes where it stopped, and a rerun or a second report asks nothing. Failures are never cached.
- :class:`JudgementLog`: ``judgements.jsonl`` in the run directory, one line per (sample, request):
  the judge, the prompt version, the raw answer and what was read from it, so every judge score can be
  audited next to the answer it came from.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CACHE_FILE = "judgements.sqlite"
LOG_FILE = "judgements.jsonl"


class AnswerCache:
    """Raw judge answers by request key, in one sqlite file (WAL: parallel shards can share it)."""

    def __init__(self, folder: Path):
        self.path = Path(folder).expanduser() / CACHE_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, judge TEXT NOT NULL, "
                "prompt TEXT NOT NULL, answer TEXT NOT NULL) WITHOUT ROWID"
            )
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeError(
                f"judge answer cache {self.path} cannot be used ({exc}); delete the file, choose another "
                "--cache-dir, or run with --no-cache"
            ) from exc
        self._lock = threading.Lock()

    def get(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                rows = self.db.execute(
                    f"SELECT key, answer FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk
                )
                found.update(rows)
        return found

    def put(self, key: str, judge: str, prompt: str, answer: str) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)", (key, judge, prompt, answer))

    def close(self) -> None:
        self.db.close()


class JudgementLog:
    """Appends one JSON line per new (sample, request key) to ``judgements.jsonl``; earlier lines are kept."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOG_FILE
        self._seen: set[tuple[str, str]] | None = None

    def _written(self) -> set[tuple[str, str]]:
        if self._seen is None:
            self._seen = set()
            if self.path.is_file():
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    try:
                        record = json.loads(line)
                        self._seen.add((record["sample"], record["key"]))
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut by a crash: the judgement is written again below
        return self._seen

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        """Append the records not yet in the file (one ``write`` per line, so shards may share it)."""
        seen = self._written()
        fresh = [r for r in records if (r["sample"], r["key"]) not in seen]
        if not fresh:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for record in fresh:
                os.write(fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
                seen.add((record["sample"], record["key"]))
        finally:
            os.close(fd)
