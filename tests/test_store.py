from __future__ import annotations

import json

import pytest
from PIL import Image

from mige_eval.store import Journal, RunStore, read_journal, safe_id, write_if_changed


def test_safe_id_keeps_safe_ids_and_disambiguates_others():
    assert safe_id("dog-00") == "dog-00"
    a, b = safe_id("a/b"), safe_id("a:b")
    assert a != b and "/" not in a and ":" not in b
    assert safe_id("../x").startswith("x-") and safe_id("") .startswith("sample-")


def test_torn_journal_line_is_ignored_and_cut(tmp_path):
    path = tmp_path / "records" / "s.jsonl"
    with Journal(path) as j:
        j.append({"id": "a"})
        j.append({"id": "b"})
    with open(path, "ab") as fh:
        fh.write(b'{"id": "c", "metr')  # a process killed mid-write
    assert [r["id"] for r in read_journal(path)] == ["a", "b"]
    with Journal(path) as j:
        j.append({"id": "d"})
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "d"]


def test_journal_is_exclusive(tmp_path):
    with Journal(tmp_path / "s.jsonl"):
        with pytest.raises(RuntimeError, match="another mige-eval process is writing"):
            Journal(tmp_path / "s.jsonl")


def test_latest_record_wins_across_journals(tmp_path):
    store = RunStore(tmp_path)
    with store.journal("shard-000-of-002") as j:
        j.append({"id": "a", "v": 1})
        j.append({"id": "a", "v": 2})
    with store.journal("shard-001-of-002") as j:
        j.append({"id": "b", "v": 3})
    assert store.records() == {"a": {"id": "a", "v": 2}, "b": {"id": "b", "v": 3}}


def test_write_if_changed_leaves_identical_files_alone(tmp_path):
    path = tmp_path / "x.json"
    assert write_if_changed(path, b"1") and not write_if_changed(path, b"1")
    mtime = path.stat().st_mtime_ns
    assert not write_if_changed(path, b"1") and path.stat().st_mtime_ns == mtime
    assert write_if_changed(path, b"2") and path.read_bytes() == b"2"


def test_images_are_written_atomically_as_png(tmp_path):
    store = RunStore(tmp_path)
    name = store.save_image("cat/01", Image.new("RGB", (3, 2), (1, 2, 3)))
    assert name.startswith("images/cat_01-") and name.endswith(".png")
    assert store.has_image("cat/01") and not list(tmp_path.rglob("*.tmp"))
    assert Image.open(tmp_path / name).getpixel((0, 0)) == (1, 2, 3)
