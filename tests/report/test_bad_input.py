"""Bad input: unfinished or damaged run directories get a clear note and the other runs are still reported."""

from __future__ import annotations

import pytest

from mige_eval.report.render import render
from mige_eval.report.runs import find_runs

VALUES = {"object": {"dino": 0.7, "clip_i": 0.8, "clip_t": 0.3}}


@pytest.fixture()
def runs(tmp_path, make_run):
    root = tmp_path / "runs"
    make_run(root / "good", "dreambench", "mige", VALUES, n=3)
    unfinished = root / "unfinished"
    unfinished.mkdir(parents=True)
    (unfinished / "run.json").write_text("{}")
    torn = make_run(root / "torn", "dreambench", "omnigen", VALUES, n=3)
    lines = (torn / "samples.jsonl").read_text().splitlines(keepends=True)
    (torn / "samples.jsonl").write_text(lines[0] + lines[1][:25])  # a killed writer: one line and a half
    corrupt = make_run(root / "corrupt", "dreambench", "blip-diffusion", VALUES)
    (corrupt / "summary.json").write_text('{"bench": "dreambench", "n": ')
    make_run(root / "no-run-json", "dreambench", "unimo-g", VALUES).joinpath("run.json").unlink()
    return root


def test_notes_name_each_bad_run_and_what_to_do(runs):
    found, notes = find_runs([runs])
    assert sorted(r.label for r in found) == ["good", "no-run-json", "torn"]
    text = "\n".join(notes)
    assert "unfinished: no summary.json" in text and "Run its `mige-eval run` command again" in text
    assert "corrupt: unreadable summary.json or run.json" in text
    (torn_note,) = [n for n in notes if n.startswith("torn:")]
    assert "samples.jsonl is partial (1 readable records where summary.json counts 3" in torn_note
    assert "line 2 is not valid JSON" in torn_note and "summary.json" in torn_note


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_other_runs_are_still_reported(runs, fmt):
    text = render([runs], fmt, "2").text
    assert "MIGE (run)" in text and "OmniGen* (run)" in text  # the torn run keeps its summary numbers
    assert "UNIMO-G (run)" in text and "run.json: missing: settings and environment unknown" in text
    assert "unfinished: no summary.json" in text and "torn: samples.jsonl is partial" in text


def test_csv_reports_the_notes_beside_the_text(runs):
    rendered = render([runs], "csv", "2")
    assert "OmniGen* (run),dino,0.7,run,torn,3,0" in rendered.text
    assert any(n.startswith("corrupt:") for n in rendered.notes)


def test_gallery_shows_the_readable_records_of_a_partial_run(runs, tmp_path):
    rendered = render([runs], "html", "2", output=tmp_path / "gallery")
    page = (tmp_path / "gallery" / "dreambench.html").read_text()
    assert page.count('<tr class="sample"') == 3  # good's three samples; torn's readable record is one of them
    assert "no record" in page
    assert any("instructions, sources and references are not shown" in n for n in rendered.notes)
    assert any("images/object-0.png" in n and "not shown" in n for n in rendered.notes)  # no image files written


def test_misuse_is_refused_with_the_fix(tmp_path, runs, make_run):
    with pytest.raises(ValueError, match="unknown --format 'pdf'"):
        render([runs], "pdf")
    with pytest.raises(ValueError, match="--out DIR"):
        render([runs], "html")
    with pytest.raises(ValueError, match="unknown --table '5'"):
        render([runs], "markdown", "5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render([tmp_path / "absent"])
    other = make_run(tmp_path / "custom", "my-bench", "mige", {"x": {"dino": 0.5}})
    with pytest.raises(ValueError, match="pass --table 1, 2, 3a or 3b"):
        render([other], "latex")
    overview = render([other], "markdown").text
    assert "| my-bench | mige | 2 | 0 | – | 0.5000 | `custom` |" in overview


def test_empty_folder_and_explicit_run_directories(tmp_path, make_run):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes").mkdir()  # folders, but no run.json, summary.json or records/ anywhere
    with pytest.raises(FileNotFoundError, match=f"no run directory in {empty}: looked for folders holding run.json"):
        render([empty], "markdown", "2")
    assert render([], "markdown", "2").notes == []
    a = make_run(tmp_path / "x" / "mige", "dreambench", "mige", VALUES)
    b = make_run(tmp_path / "y" / "mige", "dreambench", "mige", VALUES)
    found, _ = find_runs([a, b])
    assert [r.label for r in found] == ["x/mige", "y/mige"]
    assert find_runs([a])[0][0].label == "mige"
