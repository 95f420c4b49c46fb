"""LaTeX: escaping, and a generated report compiles with pdflatex and booktabs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mige_eval.report.latex import comment, escape
from mige_eval.report.render import render

HOSTILE = "my_model & co. 100% $5 #1 {x} ~a^b\\c <d>|e"


def test_escape_specials_and_non_ascii():
    assert escape("a_b & c%") == r"a\_b \& c\%"
    assert escape("\\{}") == r"\textbackslash{}\{\}"
    assert escape("~^<>|$#") == r"\textasciitilde{}\textasciicircum{}\textless{}\textgreater{}\textbar{}\$\#"
    assert escape("modèle ↑ – ×") == r"modele $\uparrow$ -- $\times$"
    assert escape("文") == "?"
    assert escape("two\nlines") == "two lines"
    assert comment("a\nb") == "% a\n% b"


@pytest.fixture()
def hostile_runs(tmp_path, make_run):
    values = {"add": {"dino": 0.8, "clip_i": 0.9, "clip_t": 0.3, "subject_dino": 0.6, "subject_clip_i": 0.8}}
    make_run(tmp_path / "runs" / "migebench" / "mige", "migebench", "mige", values)
    make_run(tmp_path / "runs" / "migebench" / "odd_dir", "migebench", HOSTILE, values)
    make_run(tmp_path / "runs" / "migebench" / "odd_dir2", "migebench", HOSTILE, values)
    return tmp_path / "runs"


def test_hostile_names_are_escaped_in_the_table(hostile_runs):
    text = render([hostile_runs], "latex", "3a").text
    body = text[text.index(r"\begin{table}") :]
    assert r"my\_model \& co. 100\% \$5 \#1 \{x\} \textasciitilde{}a\textasciicircum{}b\textbackslash{}c" in body
    assert r"(run odd\_dir)" in body and r"(run odd\_dir2)" in body
    assert body.count(r"\begin{table}") == 1 and r"\toprule" in body and r"\bottomrule" in body


def test_pdflatex_compiles_every_table(tmp_path, hostile_runs):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip(
            "pdflatex not found: install Debian's texlive-latex-base and texlive-latex-recommended "
            "(booktabs) to run this test"
        )
    # with intervals, and with every run marked (a one-sample copy of MIGEBench is not the published set)
    tables = render([hostile_runs], "latex", "1", ci=True).text + render([hostile_runs], "latex", "2").text
    tables += render([hostile_runs], "latex", "3", ci=True).text
    assert r"$^\dagger$ &" in tables and r"{\scriptsize [0.800, 0.800]}" in tables
    (tmp_path / "tables.tex").write_text(tables, encoding="utf-8")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{tables.tex}\n\\end{document}\n"
    )
    result = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Output written on doc.pdf (4 pages" in log or "Output written on doc.pdf" in log
    assert "Undefined control sequence" not in log and "Missing character" not in log
