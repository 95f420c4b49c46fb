"""LaTeX: one booktabs ``table`` environment per paper table, ready to ``\\input`` into a paper.

Needs ``\\usepackage{booktabs}`` in the preamble and nothing else. Every text that comes from data
(method labels, run directories, captions) goes through :func:`escape`, which also keeps the output
ASCII so it compiles under pdflatex whatever the input encoding setup. A row that is not comparable
with the published rows carries a dagger, explained in a footnote under the tabular. The provenance
(notes, paths, commands, scoring configurations, environment) goes in ``%`` comments above the
table, where it documents the numbers without changing the typeset page. Table 1 (12 metric
columns) is a ``table*``, as wide tables are in two-column papers.
"""

from __future__ import annotations

import unicodedata
from itertools import groupby

from mige_eval.report.tables import GROUP_LABELS, Row, Table, fmt, fmt_delta, fmt_interval

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "\n": " ",
}
#: Tables with more metric columns than this span the page width (``table*``).
WIDE = 7
_UNICODE = {
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "–": "--",
    "—": "---",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "†": r"$^\dagger$",
}


def escape(text: str) -> str:
    """Text safe in a LaTeX paragraph or cell: specials escaped, non-ASCII made ASCII."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(escape(base) if base else "?")
    return "".join(out)


def comment(text: str) -> str:
    """``text`` as LaTeX comment lines (any newline in it starts another ``%`` line)."""
    return "\n".join(f"% {line}" for line in text.splitlines() or [""])


def _cell(row: Row, col, ci: bool) -> str:
    value = row.values.get(col)
    text = escape(fmt(value))
    if col in row.best:
        text = rf"\textbf{{{text}}}"
    if col in row.deltas:
        text += rf"\,{{\scriptsize (${fmt_delta(row.deltas[col])}$)}}"
    if ci and value is not None and row.intervals.get(col):
        text += rf"\,{{\scriptsize {fmt_interval(row.intervals[col])}}}"
    return text


def latex_table(table: Table) -> str:
    """The ``table`` environment (``table*``, spanning both columns of a two-column paper, when wide)."""
    cols = table.spec.columns
    width = len(cols) + 1
    env = "table*" if len(cols) > WIDE else "table"
    lines = [
        comment(
            f"mige-eval report, table {table.spec.id}; needs \\usepackage{{booktabs}}. Still too wide? "
            "Wrap the tabular in \\resizebox{\\linewidth}{!}{...} (\\usepackage{graphicx})."
        )
    ]
    lines += [
        rf"\begin{{{env}}}[t]",
        r"  \centering",
        r"  \footnotesize",
        r"  \setlength{\tabcolsep}{3pt}",
        rf"  \caption{{{escape(table.caption)}}}",
        rf"  \label{{tab:mige-eval-{table.spec.id}}}",
        rf"  \begin{{tabular}}{{l{'c' * len(cols)}}}",
        r"    \toprule",
    ]
    spans, rules, start = [], [], 2
    for header, members in groupby(cols, key=lambda c: c.header):
        n = len(list(members))
        spans.append(rf"\multicolumn{{{n}}}{{c}}{{{escape(header)}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + n - 1}}}")
        start += n
    lines.append("    & " + " & ".join(spans) + r" \\")
    lines.append("    " + " ".join(rules))
    arrows = [rf"{escape(c.label)}$\{'uparrow' if c.higher_is_better else 'downarrow'}$" for c in cols]
    lines += ["    Method & " + " & ".join(arrows) + r" \\", r"    \midrule"]
    group = None
    for row in table.rows:
        if row.group != group:
            if group is not None:
                lines.append(r"    \midrule")
            group = row.group
            lines.append(rf"    \multicolumn{{{width}}}{{l}}{{\textit{{{escape(GROUP_LABELS.get(group, group))}}}}} \\")
        label = escape(row.label) + (r"$^\dagger$" if row.marked else "")
        lines.append(f"    {label} & " + " & ".join(_cell(row, c, table.ci) for c in cols) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}"]
    if table.footnote:
        lines += [r"  \par\smallskip", rf"  {{\raggedright\scriptsize {escape(table.footnote)}\par}}"]
    lines.append(rf"\end{{{env}}}")
    return "\n".join(lines) + "\n"
