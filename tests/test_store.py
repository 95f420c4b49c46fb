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


def test_journal_is_exclusive_and_created_only_by_its_first_event(tmp_path):
    path = tmp_path / "records" / "s.jsonl"
    with Journal(path) as first:
        first.claim()
        assert not path.parent.exists(), "claiming writes nothing"
        first.append({"id": "a"})
        other = Journal(path)
        with pytest.raises(RuntimeError, match="another mige-eval process is writing"):
            other.claim()
        with pytest.raises(RuntimeError, match="another mige-eval process is writing"):
            other.append({"id": "b"})
    assert [r["id"] for r in read_journal(path)] == ["a"]


def test_records_fold_events_by_time_across_journals(tmp_path):
    """A sample's events are folded in time order whatever journal holds them: the latest generation
    attempt wins, and every scoring key keeps its latest entry beside the others."""
    store = RunStore(tmp_path)
    with store.journal("shard-001-of-002") as j:  # written first, but its name sorts last
        j.append({"id": "a", "time": "2026-01-01T00:00:01", "image": None, "error": "boom",
                  "scores": {}})
        j.append({"id": "b", "time": "2026-01-01T00:00:02", "image": "images/b.png", "error": None,
                  "scores": {"dino@1": {"value": 0.5, "flags": []}}})
    with store.journal("shard-000-of-001") as j:
        j.append({"id": "a", "time": "2026-01-01T00:00:03", "image": "images/a.png", "error": None,
                  "scores": {"dino@1": {"value": 0.1, "flags": []}}})
        j.append({"id": "b", "time": "2026-01-01T00:00:04",
                  "scores": {"dino@2": {"value": 0.7, "flags": []}, "dino@1": {"value": 0.6, "flags": []}}})
    records = store.records()
    assert records["a"]["image"] == "images/a.png" and records["a"]["error"] is None
    assert records["b"]["image"] == "images/b.png", "a scoring event does not touch the generation fields"
    assert records["b"]["scores"] == {"dino@1": {"value": 0.6, "flags": []}, "dino@2": {"value": 0.7, "flags": []}}


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
