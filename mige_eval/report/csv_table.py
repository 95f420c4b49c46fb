"""CSV: the tables in the long format of the published CSV, one value a line, plus where it came from.

Columns: ``table, benchmark, subset, group, method, metric, value`` (as in
``mige_eval/published/mige_paper_tables.csv``, except that ``subset`` is ``all`` where a table shows a
benchmark's overall mean), then ``source`` (published or run), ``run`` (the run
directory label), ``n`` / ``n_failed`` (samples of the run behind the value), ``delta`` (difference to
the published value of the same method) and ``best`` (1 when the value is the best of its column).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from mige_eval.report.tables import Table

HEADER = ["table", "benchmark", "subset", "group", "method", "metric", "value", "source", "run", "n", "n_failed",
          "delta", "best"]


def csv_tables(tables: Sequence[Table]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for table in tables:
        for row in table.rows:
            for col in table.spec.columns:
                value = row.values.get(col)
                if value is None:
                    continue
                run = next((r for r in row.runs if r.bench == col.bench), None)
                n, failed = run.count(col.subset) if run else ("", "")
                delta = row.deltas.get(col)
                writer.writerow([
                    table.spec.id, col.bench, col.subset or "all", row.group, row.label, col.metric, f"{value:.6g}",
                    row.kind, run.label if run else "", n, failed, "" if delta is None else f"{delta:+.3f}",
                    int(col in row.best),
                ])
    return buf.getvalue()
