"""CSV: the tables in the long format of the published CSV, one value a line, plus where it came from.

Columns: ``table, benchmark, subset, group, method, metric, value`` (as in
``mige_eval/published/mige_paper_tables.csv``, except that ``subset`` is ``all`` where a table shows a
benchmark's overall mean), then ``source`` (published or run), ``run`` (the run
directory label), ``n`` / ``n_failed`` (samples of the run behind the value), ``delta`` (difference to
the published value of the same method), ``best`` (1 when the value is the best of its column),
``comparable`` (``true`` / ``false`` for a run value: may it be set against the published rows; empty
for published values) and ``reasons`` (why not, ``; ``-separated). With ``ci``, ``ci_low`` and
``ci_high`` follow: the run value's 95 % bootstrap interval (empty for published values).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from mige_eval.report.tables import Table

HEADER = [
    "table",
    "benchmark",
    "subset",
    "group",
    "method",
    "metric",
    "value",
    "source",
    "run",
    "n",
    "n_failed",
    "delta",
    "best",
    "comparable",
    "reasons",
]
CI_HEADER = ["ci_low", "ci_high"]


def csv_tables(tables: Sequence[Table]) -> str:
    ci = any(t.ci for t in tables)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER + (CI_HEADER if ci else []))
    for table in tables:
        for row in table.rows:
            for col in table.spec.columns:
                value = row.values.get(col)
                if value is None:
                    continue
                run = row.run_for(col)
                n, failed = run.count(col.subset) if run else ("", "")
                delta = row.deltas.get(col)
                verdict = row.verdicts.get(col.bench)
                line = [
                    table.spec.id,
                    col.bench,
                    col.subset or "all",
                    row.group,
                    row.label,
                    col.metric,
                    f"{value:.6g}",
                    row.kind,
                    run.label if run else "",
                    n,
                    failed,
                    "" if delta is None else f"{delta:+.3f}",
                    int(col in row.best),
                    "" if verdict is None else str(verdict.comparable).lower(),
                    "" if verdict is None else "; ".join(verdict.reasons),
                ]
                if ci:
                    interval = row.intervals.get(col)
                    line += [f"{interval[0]:.6g}", f"{interval[1]:.6g}"] if interval else ["", ""]
                writer.writerow(line)
    return buf.getvalue()
