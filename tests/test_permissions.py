"""Files of a run and of a gallery get the permissions the umask gives, like any file a user's program writes."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mige_eval.cli import app
from mige_eval.store import atomic_write_bytes


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_atomic_writes_follow_the_umask(tmp_path, mask):
    with umask(mask):
        atomic_write_bytes(tmp_path / "a" / "x.json", b"{}")
        atomic_write_bytes(tmp_path / "a" / "x.json", b"[]")  # replacing keeps the rule
    assert mode(tmp_path / "a" / "x.json") == 0o666 & ~mask
    assert (tmp_path / "a" / "x.json").read_bytes() == b"[]"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]  # no temporary left behind


def _run_and_gallery(tmp_path: Path, data: Path, run_mask: int, gallery_mask: int) -> tuple[Path, Path]:
    run_dir, gallery = tmp_path / "run", tmp_path / "gallery"
    with umask(run_mask):
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--bench",
                "dreambench",
                "--data",
                str(data),
                "--model",
                "copy-source",
                "--metrics",
                "none",
                "--limit",
                "2",
                "--out",
                str(run_dir),
                "--quiet",
            ],
        )
    assert result.exit_code == 0, result.output
    with umask(gallery_mask):
        result = CliRunner().invoke(app, ["report", str(run_dir), "--format", "html", "--out", str(gallery)])
    assert result.exit_code == 0, result.output
    return run_dir, gallery


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_run_files_and_gallery_images_follow_the_umask(tmp_path, dreambench_root, mask):
    run_dir, gallery = _run_and_gallery(tmp_path, dreambench_root, mask, mask)
    written = files(run_dir)
    assert {p.name for p in written} >= {"run.json", "summary.json", "samples.jsonl"}
    assert len([p for p in written if p.parent.name == "images"]) == 2
    assert {oct(mode(p)) for p in written} == {oct(0o666 & ~mask)}
    shown = files(gallery)
    assert any(p.parent.name == "full" for p in shown)
    assert {oct(mode(p)) for p in shown} == {oct(0o666 & ~mask)}


def test_a_gallery_made_under_022_from_a_private_run_is_readable_by_all(tmp_path, dreambench_root):
    run_dir, gallery = _run_and_gallery(tmp_path, dreambench_root, 0o077, 0o022)
    assert {oct(mode(p)) for p in files(run_dir)} == {oct(0o600)}  # the run stays private
    full = [p for p in files(gallery) if p.parent.name == "full"]
    assert full and {oct(mode(p)) for p in files(gallery)} == {oct(0o644)}  # copies, not links to 0600 files
    outputs = {p.stat().st_ino for p in (run_dir / "images").iterdir()}
    assert not outputs & {p.stat().st_ino for p in full}
    with Image.open(full[0]) as img:
        assert img.size[0] > 0


def test_gallery_images_are_hard_links_when_permissions_already_agree(tmp_path, dreambench_root):
    run_dir, gallery = _run_and_gallery(tmp_path, dreambench_root, 0o022, 0o022)
    outputs = {p.stat().st_ino for p in (run_dir / "images").iterdir()}
    assert outputs <= {p.stat().st_ino for p in files(gallery / "full")}
