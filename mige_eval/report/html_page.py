"""HTML building blocks of the gallery: the page shell (inline CSS and vanilla JS), paper tables, run facts.

Everything is inline so a page opens from the file system with no server and no network. The
script sorts and filters the sample rows; its state lives in the URL hash, so a view can be
bookmarked, shared or opened directly (a browser in a test loads ``bench.html#sort=-dino``):

- ``sort=METRIC`` ascending, ``sort=-METRIC`` descending (rows without a value go last);
- ``run=K`` which run's value to sort and filter by (0-based, default 0);
- ``subset=NAME`` only that subset; ``min=X`` / ``max=Y`` only values of the sort metric in range.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from itertools import groupby

from mige_eval.report.runs import RunInfo
from mige_eval.report.tables import GROUP_LABELS, Table, fmt, fmt_delta, fmt_interval, row_label

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1rem 2rem;color:#222}
table{border-collapse:collapse}caption{text-align:left;max-width:70em;padding:4px 0}
td,th{padding:2px 6px;vertical-align:top}
table.paper td,table.paper th{border-bottom:1px solid #ddd;text-align:right}
table.paper td:first-child,table.paper th:first-child{text-align:left}
table.paper tr.group td{font-style:italic;background:#f4f4f4;text-align:left}
table.paper tr.run td{background:#eef6ff}table.paper tr.marked td{background:#f6f0e6}.footnote{max-width:70em}
.d{font-size:80%;color:#555}.ci{font-size:75%;color:#555;white-space:nowrap}
#samples td{border-top:1px solid #ccc}#samples th{position:sticky;top:0;background:#fff;text-align:left}
img.th{max-width:160px;max-height:160px;display:block}img.inl{max-height:64px;vertical-align:middle;margin:0 2px}
img.crop{max-width:96px;max-height:96px;display:block;margin-top:2px}
.refs{display:flex;flex-wrap:wrap;gap:2px;max-width:340px}.refs img.th{max-width:80px;max-height:80px}
.metrics{font:12px monospace;white-space:pre}.err{color:#b00;font-size:12px;max-width:220px}
.dists{display:grid;grid-template-columns:repeat(auto-fill,244px);gap:4px}
svg.hist rect{fill:#4a7fc1}svg.hist .axis{stroke:#333}svg.hist .mean{stroke:#c33;stroke-width:2}
svg.hist text{font:10px sans-serif;fill:#333}svg.hist text.t{font-weight:bold}
#controls{margin:.5rem 0;padding:.5rem;background:#f6f6f6}#controls label{margin-right:1rem}
"""

JS = """
(function () {
  var body = document.querySelector('#samples tbody');
  if (!body) return;
  var rows = Array.prototype.slice.call(body.rows);
  var $ = function (id) { return document.getElementById(id); };
  function state() {
    var st = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i > 0) st[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    return st;
  }
  function value(row, key) {
    var v = key ? row.getAttribute('data-' + key) : null;
    return v === null || v === '' ? null : parseFloat(v);
  }
  function apply() {
    var st = state();
    var sort = st.sort || '';
    var desc = sort.charAt(0) === '-';
    var metric = sort.replace(/^-/, '');
    var key = metric ? 'r' + (st.run || '0') + '-' + metric : null;
    var list = rows.slice();
    if (key) {
      list.sort(function (a, b) {
        var va = value(a, key), vb = value(b, key);
        if (va === null || vb === null) {
          if (va !== vb) return va === null ? 1 : -1;
        } else if (va !== vb) {
          return desc ? vb - va : va - vb;
        }
        return a.getAttribute('data-order') - b.getAttribute('data-order');
      });
    }
    var lo = st.min ? parseFloat(st.min) : null, hi = st.max ? parseFloat(st.max) : null, shown = 0;
    list.forEach(function (row) {
      var v = value(row, key);
      var ok = (!st.subset || row.getAttribute('data-subset') === st.subset) &&
        (lo === null || (v !== null && v >= lo)) && (hi === null || (v !== null && v <= hi));
      row.hidden = !ok;
      if (ok) shown += 1;
      body.appendChild(row);
    });
    $('count').textContent = shown + ' of ' + rows.length + ' samples shown';
    $('f-subset').value = st.subset || '';
    $('f-sort').value = metric ? (st.run || '0') + ':' + metric : '';
    $('f-desc').checked = desc;
    $('f-min').value = st.min || '';
    $('f-max').value = st.max || '';
  }
  function update() {
    var parts = [], pick = $('f-sort').value;
    if (pick) {
      var i = pick.indexOf(':');
      parts.push('sort=' + ($('f-desc').checked ? '-' : '') + pick.slice(i + 1), 'run=' + pick.slice(0, i));
    }
    if ($('f-subset').value) parts.push('subset=' + encodeURIComponent($('f-subset').value));
    if ($('f-min').value) parts.push('min=' + $('f-min').value);
    if ($('f-max').value) parts.push('max=' + $('f-max').value);
    location.hash = parts.join('&');
  }
  ['f-subset', 'f-sort', 'f-desc', 'f-min', 'f-max'].forEach(function (id) {
    $(id).addEventListener('change', update);
  });
  window.addEventListener('hashchange', apply);
  apply();
})();
"""


def page(title: str, body: str, script: bool = False) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
        + (f"<script>{JS}</script>\n" if script else "")
        + "</body></html>\n"
    )


def paper_table(table: Table) -> str:
    cols = table.spec.columns
    heads = "".join(
        f'<th colspan="{len(list(g))}" style="text-align:center">{escape(h)}</th>'
        for h, g in groupby(cols, key=lambda c: c.header)
    )
    arrows = "".join(f"<th>{escape(c.label)} {'↑' if c.higher_is_better else '↓'}</th>" for c in cols)
    out = [
        f'<table class="paper"><caption><b>Table {escape(table.spec.id)}.</b> {escape(table.caption)}</caption>',
        f"<tr><th></th>{heads}</tr><tr><th>Method</th>{arrows}</tr>",
    ]
    group = None
    for row in table.rows:
        if row.group != group:
            group = row.group
            label = escape(GROUP_LABELS.get(group, group))
            out.append(f'<tr class="group"><td colspan="{len(cols) + 1}">{label}</td></tr>')
        cells = []
        for col in cols:
            value = row.values.get(col)
            text = escape(fmt(value))
            if col in row.best:
                text = f"<b>{text}</b>"
            if col in row.deltas:
                text += f' <span class="d">({fmt_delta(row.deltas[col])})</span>'
            if table.ci and value is not None and row.intervals.get(col):
                text += f' <span class="ci">{escape(fmt_interval(row.intervals[col]))}</span>'
            cells.append(f"<td>{text}</td>")
        kind = row.kind + (" marked" if row.marked else "")
        out.append(f'<tr class="{kind}"><td>{escape(row_label(row))}</td>{"".join(cells)}</tr>')
    out.append("</table>")
    if table.footnote:
        out.append(f'<p class="d footnote">{escape(table.footnote)}</p>')
    return "\n".join(out)


#: Facts a reader needs at a glance; the rest (paths, settings, environment, commands) sits under "provenance".
_GLANCE = ("samples", "settings", "comparable with the published rows")


def run_facts(run: RunInfo) -> str:
    facts = run.facts()
    items = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in facts if k in _GLANCE)
    details = "".join(f"<li><b>{escape(k)}</b>: <code>{escape(v)}</code></li>" for k, v in facts if k not in _GLANCE)
    notes = "".join(f"<li>{escape(n)}</li>" for n in run.summary.get("notes") or ())
    return (
        f"<h3>{escape(run.model)} on {escape(run.bench)} <code>{escape(run.label)}</code></h3><ul>{items}</ul>"
        f"<details><summary>provenance</summary><ul>{details}</ul></details>"
        + (f"<p>Notes:</p><ul>{notes}</ul>" if notes else "")
    )


def note_list(notes: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>" if notes else ""
