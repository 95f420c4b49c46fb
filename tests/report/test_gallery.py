"""The HTML gallery on the real DreamBench: its files, and what a real browser (headless Chromium) shows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mige_eval.report.render import render
from mige_eval.report.svg import histogram

MAGENTA, CYAN, YELLOW = (255, 0, 255), (0, 255, 255), (255, 255, 0)
IDS = {"object": ["backpack-00", "backpack-01"], "live": ["cat-00", "cat-01", "cat-02"]}
ORDER = IDS["object"] + IDS["live"]  # benchmark order: backpack comes before cat
#: mige's DINO per sample, in ORDER: sorting by it gives cat-01, backpack-00, cat-02, backpack-01, cat-00.
DINO = {"object": [0.5, 0.7], "live": [0.9, 0.1, 0.6]}


def solid(color, size):
    return lambda sample_id: Image.new("RGB", size, color)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, dreambench_root, make_run) -> Path:
    root = tmp_path_factory.mktemp("gallery")
    clip = {"object": [0.3, 0.31], "live": [0.2, 0.21, 0.22]}
    mige = make_run(
        root / "runs" / "mige",
        "dreambench",
        "mige",
        {s: {"dino": DINO[s], "clip_i": 0.8, "clip_t": clip[s]} for s in IDS},
        ids=IDS,
        data=dreambench_root,
        image=solid(MAGENTA, (300, 300)),
    )
    make_run(
        root / "runs" / "omnigen",
        "dreambench",
        "omnigen",
        {s: {"dino": 0.4, "clip_i": 0.5, "clip_t": None} for s in IDS},
        ids=IDS,
        data=dreambench_root,
        image=solid(CYAN, (64, 64)),
    )
    (mige / "crops").mkdir()
    Image.new("RGB", (40, 40), YELLOW).save(mige / "crops" / "cat-00.png")
    rendered = render([root / "runs"], "html", "2", output=root / "out")
    assert rendered.notes == []
    return root / "out"


def test_gallery_folder_is_self_contained(gallery, dreambench_root):
    index = (gallery / "index.html").read_text()
    page = (gallery / "dreambench.html").read_text()
    assert "Table 2." in index and 'href="dreambench.html"' in index and "Test GPU" in index
    assert page.count('<tr class="sample"') == 5
    for html in (index, page):
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
        for target in re.findall(r'(?:src|href)="([^"#]+)"', html):
            assert (gallery / target).is_file(), target
    # the instruction with the subject photo in place of <imagehere>
    row = page[page.index('data-id="backpack-00"') : page.index('data-id="backpack-01"')]
    assert re.search(
        r'<td class="instr">a <a href="full/\w+\.jpg"><img class="inl" src="thumbs/\w+\.jpg"[^>]*></a> '
        r"in the jungle</td>",
        row,
    )
    assert "blank canvas" in row and row.count('alt="backpack/0') == 7  # instruction photo + 6 references
    assert "dino 0.5000" in row and "clip_t null" in row
    # one histogram per run and metric; the crop shown under mige's output
    assert page.count('<svg class="hist"') == 6 and "mean 0.560, n=5" in page
    assert 'alt="subject crop of cat-00"' in page


def test_thumbnails_are_small_and_not_blank(gallery, dreambench_root):
    thumbs = list((gallery / "thumbs").glob("*.jpg"))
    photos = {p.name for p in (dreambench_root / "backpack").glob("*.jpg")} | {"00.jpg", "01.jpg", "02.jpg", "03.jpg"}
    assert len(thumbs) >= len(photos) + 5  # every large image (photos, mige's 300 px outputs) got one
    for path in thumbs:
        with Image.open(path) as img:
            assert max(img.size) <= 256
            pixels = np.asarray(img.convert("RGB"), dtype=float)
        magenta = np.abs(pixels - MAGENTA).max() < 8
        assert magenta or pixels.std() > 10, f"{path} is blank"
    # small images (omnigen's 64 px outputs) are shown as they are, no thumbnail
    page = (gallery / "dreambench.html").read_text()
    assert len(re.findall(r'<img class="th" src="full/\w+\.png"', page)) == 5


def test_histogram_svg():
    svg = histogram([0.1, 0.2, 0.2, 0.9], "run: dino")
    assert svg.startswith("<svg") and svg.count("<rect") == 3 and "mean 0.350, n=4" in svg
    assert "no values" in histogram([], "x") and "<rect" in histogram([0.5, 0.5], "flat")


# --- in a real browser -------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browse(tmp_path: Path, url: str, *args: str) -> str:
    if CHROMIUM is None:
        pytest.skip("Chromium not found: install Debian's chromium to open the gallery in a real browser")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    result = subprocess.run([CHROMIUM, *flags, *args, url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def rows(dom: str) -> list[tuple[str, bool]]:
    """(sample id, shown) of every sample row, in the order the page now has them."""
    return [
        (m.group(2), "hidden" not in m.group(1) + m.group(3))
        for m in re.finditer(r'<tr class="sample"([^>]*?)data-id="([^"]+)"([^>]*)>', dom)
    ]


def test_browser_renders_thumbnails(gallery, tmp_path):
    shot = tmp_path / "shot.png"
    browse(tmp_path, (gallery / "dreambench.html").as_uri(), f"--screenshot={shot}", "--window-size=1600,2400")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)

    def count(color):
        return int((np.abs(pixels - color).max(axis=2) < 12).sum())

    # five rows: mige's outputs at 160 px (thumbnails of 300 px images), omnigen's at 64 px, one 40 px crop
    assert count(MAGENTA) >= 5 * 160 * 160 * 0.95
    assert count(CYAN) >= 5 * 64 * 64 * 0.95
    assert count(YELLOW) >= 40 * 40 * 0.95
    # the DreamBench photos rendered too: a wide range of colours where references are
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 5000


def test_browser_sorts_and_filters_rows(gallery, tmp_path):
    page = (gallery / "dreambench.html").as_uri()
    plain = rows(browse(tmp_path, page, "--dump-dom"))
    assert plain == [(i, True) for i in ORDER]
    by_dino = [i for i, _ in rows(browse(tmp_path, page + "#sort=dino", "--dump-dom"))]
    assert by_dino == ["cat-01", "backpack-00", "cat-02", "backpack-01", "cat-00"]
    assert [i for i, _ in rows(browse(tmp_path, page + "#sort=-dino", "--dump-dom"))] == by_dino[::-1]
    # omnigen (run 1) has clip_t null everywhere: its clip_t leaves benchmark order; mige's clip_t sorts
    assert [i for i, _ in rows(browse(tmp_path, page + "#sort=clip_t&run=1", "--dump-dom"))] == ORDER
    by_clip = [i for i, _ in rows(browse(tmp_path, page + "#sort=-clip_t&run=0", "--dump-dom"))]
    assert by_clip == ["backpack-01", "backpack-00", "cat-02", "cat-01", "cat-00"]
    live = rows(browse(tmp_path, page + "#sort=dino&subset=live&min=0.2", "--dump-dom"))
    assert [i for i, shown in live if shown] == ["cat-02", "cat-00"]
    dom = browse(tmp_path, page + "#subset=object", "--dump-dom")
    assert [i for i, shown in rows(dom) if shown] == IDS["object"] and "2 of 5 samples shown" in dom


def test_a_gallery_is_replaced_only_once_the_new_one_is_complete(tmp_path, dreambench_root, make_run, monkeypatch):
    from typer.testing import CliRunner

    from mige_eval.cli import app
    from mige_eval.report import gallery as gallery_module

    make_run(
        tmp_path / "runs" / "mige",
        "dreambench",
        "mige",
        {s: {"dino": DINO[s]} for s in IDS},
        ids=IDS,
        data=dreambench_root,
        image=solid(MAGENTA, (300, 300)),
    )
    out = tmp_path / "site" / "gallery"
    render([tmp_path / "runs"], "html", output=out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    rows = []
    real_row = gallery_module._BenchPage._row

    def interrupted(self, order, sample_id):  # Ctrl-C while the third row's images are written
        rows.append(sample_id)
        if len(rows) == 3:
            raise KeyboardInterrupt
        return real_row(self, order, sample_id)

    monkeypatch.setattr(gallery_module._BenchPage, "_row", interrupted)
    monkeypatch.setenv("MIGE_EVAL_PROGRESS_SECONDS", "0")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "runs"), "--format", "html", "--output", str(out)])
    assert result.exit_code == 130
    assert f"interrupted after 2 samples; {out} was not changed; the same command writes it again" in " ".join(
        result.output.split()
    )
    assert "gallery dreambench: 5 to do" in result.output and "gallery dreambench: 1/5 (20%)" in result.output
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["gallery"]  # no draft left beside it

    monkeypatch.setattr(gallery_module._BenchPage, "_row", real_row)
    make_run(
        tmp_path / "runs" / "omnigen",
        "dreambench",
        "omnigen",
        {s: {"dino": 0.4} for s in IDS},
        ids=IDS,
        data=dreambench_root,
        image=solid(CYAN, (64, 64)),
    )
    render([tmp_path / "runs"], "html", output=out)
    assert "omnigen" in (out / "dreambench.html").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["gallery"]


def test_a_folder_with_other_files_is_not_replaced_by_a_gallery(tmp_path, dreambench_root, make_run):
    make_run(
        tmp_path / "runs" / "mige",
        "dreambench",
        "mige",
        {s: {"dino": DINO[s]} for s in IDS},
        ids=IDS,
        data=dreambench_root,
        image=solid(MAGENTA, (32, 32)),
    )
    out = tmp_path / "paper"
    out.mkdir()
    (out / "main.tex").write_text("\\documentclass{article}")
    with pytest.raises(ValueError, match=r"--out .*paper holds files a gallery does not \(main.tex\)"):
        render([tmp_path / "runs"], "html", output=out)
    assert [p.name for p in out.iterdir()] == ["main.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paper", "runs"]
