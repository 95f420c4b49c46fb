from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from mige_eval.images import EncodedImage, ImageDecodeError
from mige_eval.store import Journal, RunStore, read_journal, safe_id, write_if_changed


def test_safe_id_keeps_safe_ids_and_disambiguates_others():
    assert safe_id("dog-00") == "dog-00"
    a, b = safe_id("a/b"), safe_id("a:b")
    assert a != b and "/" not in a and ":" not in b
    assert safe_id("../x").startswith("x-") and safe_id("").startswith("sample-")


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
        j.append({"id": "a", "time": "2026-01-01T00:00:01", "image": None, "error": "boom", "scores": {}})
        j.append(
            {
                "id": "b",
                "time": "2026-01-01T00:00:02",
                "image": "images/b.png",
                "error": None,
                "scores": {"dino@1": {"value": 0.5, "flags": []}},
            }
        )
    with store.journal("shard-000-of-001") as j:
        j.append(
            {
                "id": "a",
                "time": "2026-01-01T00:00:03",
                "image": "images/a.png",
                "error": None,
                "scores": {"dino@1": {"value": 0.1, "flags": []}},
            }
        )
        j.append(
            {
                "id": "b",
                "time": "2026-01-01T00:00:04",
                "scores": {"dino@2": {"value": 0.7, "flags": []}, "dino@1": {"value": 0.6, "flags": []}},
            }
        )
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


def test_a_models_image_is_written_atomically_as_png(tmp_path):
    store = RunStore(tmp_path)
    pixels = store.save_output("cat/01", Image.new("RGB", (3, 2), (1, 2, 3)))
    name = store.image_name("cat/01")
    assert name.startswith("images/cat_01-") and name.endswith(".png")
    assert store.has_image("cat/01") and not list(tmp_path.rglob("*.tmp"))
    assert Image.open(tmp_path / name).getpixel((0, 0)) == (1, 2, 3) == pixels.getpixel((0, 0))


def encoded(fmt: str, color=(200, 40, 10), **save) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, format=fmt, **save)
    return buf.getvalue()


def test_existing_files_are_stored_byte_for_byte_under_their_format(tmp_path):
    store = RunStore(tmp_path)
    png = encoded("PNG", compress_level=9)
    pixels = store.save_output("a", EncodedImage(png, "outputs/a.png"))
    assert (tmp_path / "images" / "a.png").read_bytes() == png
    assert np.array_equal(np.asarray(pixels), np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))

    jpeg = encoded("JPEG", quality=60)  # named by its bytes, not by the file it came from
    store.save_output("b", EncodedImage(jpeg, "outputs/b.png"))
    assert store.image_name("b") == "images/b.jpg" and (tmp_path / "images" / "b.jpg").read_bytes() == jpeg

    store.save_output("a", EncodedImage(jpeg, "elsewhere/a.jpg"))  # a new output replaces the old one
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["a.jpg", "b.jpg"]
    assert store.image_path("a").read_bytes() == jpeg and store.has_image("a")


def test_a_format_browsers_do_not_show_is_stored_as_png_and_a_corrupt_file_not_at_all(tmp_path):
    store = RunStore(tmp_path)
    pixels = store.save_output("t", EncodedImage(encoded("TGA"), "t.tga"))
    assert store.image_name("t") == "images/t.png"
    assert np.array_equal(np.asarray(Image.open(store.image_path("t"))), np.asarray(pixels))
    assert pixels.getpixel((0, 0)) == (200, 40, 10)
    with pytest.raises(ImageDecodeError, match="cannot decode image broken.png"):
        store.save_output("x", EncodedImage(encoded("PNG")[:40], "broken.png"))
    assert not store.has_image("x") and store.image_name("x") == "images/x.png"
