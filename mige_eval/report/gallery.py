"""The HTML gallery: a static folder a person browses to see what the numbers are made of.

``index.html`` holds the paper tables, a link per benchmark, each run's settings and environment and
the report's notes. ``<bench>.html`` shows, for every sample, the multimodal instruction with its
images in place of ``<imagehere>``, the source, the references, and each run's output side by side
(with its subject crop when the run has one) and metric values; per-metric histograms per run sit on
top, and the rows sort and filter by metric and subset (:mod:`mige_eval.report.html_page`).

Instructions, sources and references come from the benchmark loader on the dataset folder the run
recorded (``run.json`` → ``data.data``) or the one given; when that cannot be opened, the gallery
still shows every run's outputs and scores, references found as plain files under the dataset folder,
and a note saying why the rest is missing. Scores are read from ``samples.jsonl``, never recomputed
(with ``--scoring``, each sample's entry under the configuration shown).

The gallery is written into a new folder beside the target and renamed into place only when it is
complete, so an interrupted or failed report leaves the previous gallery (or none), never half of one.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from mige_eval.benchmarks.base import resolve_inside
from mige_eval.benchmarks.open import open_benchmark
from mige_eval.images import ImageRef
from mige_eval.presets import PresetError, Presets
from mige_eval.records import view
from mige_eval.report import html_page
from mige_eval.report.runs import RunInfo, read_records
from mige_eval.report.svg import histogram
from mige_eval.report.tables import Table
from mige_eval.report.thumbs import ImageFolder, Shown
from mige_eval.store import safe_id
from mige_eval.summary import metric_names
from mige_eval.types import PLACEHOLDER, Sample

#: At most this many image problems are listed one by one in the notes.
MAX_IMAGE_NOTES = 20

#: ``progress(label, total)`` returns ``advance(n)``, called as the rows of a page are written.
Progress = Callable[[str, int], Callable[..., None]]

#: What a gallery folder holds; a folder with anything else is not replaced by one.
_GALLERY_ENTRIES = ("full", "thumbs")


def _load_samples(
    bench: str, runs: Sequence[RunInfo], root: Path | None
) -> tuple[dict[str, Sample], Path | None, str | None]:
    """The benchmark's samples by id from the first dataset folder that opens, or why none did."""
    roots = list(dict.fromkeys([root] if root else [r.data_root() for r in runs if r.data_root()]))
    try:
        presets = Presets.from_names(runs[0].presets().values())
    except PresetError:
        presets = Presets.from_names()
    options = runs[0].bench_options()
    reason = "the runs record no dataset folder"
    for candidate in roots:
        try:
            loader = open_benchmark(bench, data=candidate, presets=presets, options=options)
            return {s.id: s for s in loader.samples() if isinstance(s, Sample)}, candidate, None
        except Exception as exc:  # noqa: BLE001 - any loader failure only costs the gallery the inputs
            reason = f"{type(exc).__name__}: {exc}"
    where = f" at {roots[0]}, the folder the run used" if roots else ""
    return (
        {},
        (roots[0] if roots else None),
        (
            f"{bench} gallery: instructions, sources and references are not shown ({reason}); outputs and scores "
            f"are. Make the dataset readable{where} and write the gallery again."
        ),
    )


class _BenchPage:
    def __init__(self, bench: str, runs: Sequence[RunInfo], folder: ImageFolder, root: Path | None):
        self.bench, self.runs, self.folder = bench, list(runs), folder
        self.samples, self.root, self.note = _load_samples(bench, runs, root)
        self.records: list[dict[str, dict[str, Any]]] = []
        for run in self.runs:
            records, _ = read_records(run.path)
            if run.numbers is not None:  # --scoring: each sample's values under the configurations shown
                records = [view(r, run.keys()) for r in records]
            self.records.append({r["id"]: r for r in records})
        seen = list(self.samples) + [i for recs in self.records for i in recs]
        self.ids = [i for i in dict.fromkeys(seen) if any(i in recs for recs in self.records)]
        self.metrics = [metric_names(recs.values()) for recs in self.records]

    def _img(self, shown: Shown | None, label: str, cls: str = "th") -> str:
        if shown is None:
            return f'<span class="err">{escape(label)}: not shown</span>'
        return (
            f'<a href="{escape(shown.full)}"><img class="{cls}" src="{escape(shown.thumb)}" '
            f'alt="{escape(label)}" title="{escape(label)}" loading="lazy"></a>'
        )

    def _ref(self, ref: ImageRef, cls: str = "th") -> str:
        return self._img(self.folder.data(ref.read, f"data:{self.root}:{ref.label}"), ref.label, cls)

    def _instruction(self, sample: Sample | None, record: dict[str, Any]) -> str:
        if sample is None:
            return f'<span class="d">{escape(record.get("caption") or "")}</span>'
        parts = re.split(re.escape(PLACEHOLDER), sample.instruction, flags=re.IGNORECASE)
        out = [escape(parts[0])]
        for i, text in enumerate(parts[1:]):
            refs = sample.instruction_images
            out.append(self._ref(refs[i], "inl") if i < len(refs) else escape(PLACEHOLDER))
            out.append(escape(text))
        return "".join(out)

    def _references(self, sample: Sample | None, record: dict[str, Any]) -> str:
        if sample is not None:
            refs = list(sample.references)
        else:
            refs = []
            for label in record.get("references") or ():
                try:
                    path = resolve_inside(self.root, label, what="reference") if self.root else None
                except ValueError:
                    path = None
                if path is not None and path.is_file():
                    refs.append(ImageRef.from_path(path, label))
        return '<div class="refs">' + "".join(self._ref(r) for r in refs) + "</div>"

    def _run_cell(self, k: int, record: dict[str, Any] | None) -> str:
        if record is None:
            return '<td><span class="d">no record</span></td>'
        run = self.runs[k]
        out = []
        if record.get("image"):
            try:
                path = resolve_inside(run.path, record["image"], what=f"{run.label} output")
                out.append(self._img(self.folder.file(path, f"run:{path}"), record["image"]))
            except ValueError as exc:
                out.append(f'<span class="err">{escape(str(exc))}</span>')
        crop = run.path / "crops" / f"{safe_id(record['id'])}.png"
        if crop.is_file():
            out.append(self._img(self.folder.file(crop, f"run:{crop}"), f"subject crop of {record['id']}", "crop"))
        values = record.get("metrics") or {}
        lines = [f"{m} {'null' if values[m] is None else f'{values[m]:.4f}'}" for m in self.metrics[k] if m in values]
        out.append(f'<div class="metrics">{escape(chr(10).join(lines))}</div>')
        if record.get("flags"):
            out.append(f'<div class="d">{escape(", ".join(record["flags"]))}</div>')
        if record.get("error"):
            out.append(f'<div class="err">{escape(record["error"])}</div>')
        return "<td>" + "".join(out) + "</td>"

    def _row(self, order: int, sample_id: str) -> str:
        records = [recs.get(sample_id) for recs in self.records]
        first = next(r for r in records if r is not None)
        sample = self.samples.get(sample_id)
        subset = sample.subset if sample else str(first.get("subset", ""))
        attrs = [f'data-id="{escape(sample_id)}"', f'data-subset="{escape(subset)}"', f'data-order="{order}"']
        for k, record in enumerate(records):
            for metric, value in ((record or {}).get("metrics") or {}).items():
                if value is not None:
                    attrs.append(f'data-r{k}-{escape(metric)}="{value!r}"')
        if sample is None:
            source = '<span class="d">unknown</span>'
        elif sample.source is None:
            source = '<span class="d">blank canvas</span>'
        else:
            source = self._ref(sample.source)
        cells = [
            f"<td><b>{escape(sample_id)}</b><br>{escape(subset)}</td>",
            f'<td class="instr">{self._instruction(sample, first)}</td>',
            f"<td>{source}</td>",
            f"<td>{self._references(sample, first)}</td>",
        ]
        cells += [self._run_cell(k, r) for k, r in enumerate(records)]
        return f'<tr class="sample" {" ".join(attrs)}>{"".join(cells)}</tr>'

    def _distributions(self) -> str:
        out = ["<h2>Distributions</h2>"]
        for k, run in enumerate(self.runs):
            plots = [
                histogram(
                    [
                        r["metrics"][m]
                        for r in self.records[k].values()
                        if not r.get("error") and (r.get("metrics") or {}).get(m) is not None
                    ],
                    f"{run.label}: {m}",
                )
                for m in self.metrics[k]
            ]
            out.append(f'<h3>{escape(run.label)}</h3><div class="dists">{"".join(plots) or "no metrics"}</div>')
        return "\n".join(out)

    def _controls(self) -> str:
        subsets = sorted(
            {
                (
                    self.samples[i].subset
                    if i in self.samples
                    else str(next(r[i] for r in self.records if i in r).get("subset", ""))
                )
                for i in self.ids
            }
        )
        subset_opts = "".join(f'<option value="{escape(s)}">{escape(s)}</option>' for s in subsets)
        sort_opts = "".join(
            f'<option value="{k}:{escape(m)}">{escape(run.label)}: {escape(m)}</option>'
            for k, run in enumerate(self.runs)
            for m in self.metrics[k]
        )
        return (
            '<div id="controls">'
            f'<label>subset <select id="f-subset"><option value="">all</option>{subset_opts}</select></label>'
            '<label>sort by <select id="f-sort"><option value="">benchmark order</option>'
            f"{sort_opts}</select></label>"
            '<label><input type="checkbox" id="f-desc"> descending</label>'
            '<label>min <input id="f-min" type="number" step="any" size="6"></label>'
            '<label>max <input id="f-max" type="number" step="any" size="6"></label>'
            '<span id="count"></span></div>'
        )

    def html(self, advance: Callable[..., None]) -> str:
        heads = "".join(f'<th>{escape(r.label)}<br><span class="d">{escape(r.model)}</span></th>' for r in self.runs)
        rows = []
        for i, sample_id in enumerate(self.ids):
            rows.append(self._row(i, sample_id))
            advance(1)
        rows = "\n".join(rows)
        body = (
            f"<h1>{escape(self.bench)}: {len(self.ids)} samples, {len(self.runs)} runs</h1>"
            '<p><a href="index.html">back to the report</a></p>'
            + (f'<p class="err">{escape(self.note)}</p>' if self.note else "")
            + self._distributions()
            + "<h2>Samples</h2>"
            + self._controls()
            + '<table id="samples"><thead><tr><th>sample</th><th>instruction</th><th>source</th>'
            f"<th>reference</th>{heads}</tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
        )
        return html_page.page(f"{self.bench} gallery", body, script=True)


def write_gallery(
    out: Path,
    runs: Sequence[RunInfo],
    tables: Sequence[Table],
    notes: Sequence[str] = (),
    *,
    data_roots: dict[str, Path] | None = None,
    thumb_size: int = 256,
    progress: Progress | None = None,
) -> list[str]:
    """Write the gallery folder ``out`` (index.html, one page per benchmark, images); returns its notes.

    An existing ``out`` is replaced as a whole, once the new gallery is complete; a folder that holds
    anything a gallery does not is refused, so that no other file is ever deleted.
    """
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    draft = out.parent / f".{out.name}.{secrets.token_hex(4)}.partial"
    draft.mkdir()
    try:
        found = _write(draft, runs, tables, notes, data_roots or {}, thumb_size, progress)
        _move_into_place(draft, out)
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        raise
    return found


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"--out {out} is a file; a gallery is a folder: give a new or empty folder")
    foreign = sorted(
        p.name
        for p in out.iterdir()
        if not (p.name in _GALLERY_ENTRIES and p.is_dir()) and not (p.suffix == ".html" and p.is_file())
    )
    if foreign:
        raise ValueError(
            f"--out {out} holds files a gallery does not ({', '.join(foreign[:5])}"
            f"{', ...' if len(foreign) > 5 else ''}); a gallery replaces its whole folder, so give a "
            "new or empty folder, or the folder of an earlier gallery"
        )


def _move_into_place(draft: Path, out: Path) -> None:
    """Rename the finished draft to ``out``; an earlier gallery there is renamed away first, then deleted."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.{secrets.token_hex(4)}.old"
        os.rename(out, old)
    os.rename(draft, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(
    out: Path,
    runs: Sequence[RunInfo],
    tables: Sequence[Table],
    notes: Sequence[str],
    data_roots: dict[str, Path],
    thumb_size: int,
    progress: Progress | None,
) -> list[str]:
    folder = ImageFolder(out, thumb_size)
    benches = list(dict.fromkeys(r.bench for r in runs))
    page_notes: list[str] = []
    links = []
    for bench in benches:
        bench_runs = [r for r in runs if r.bench == bench]
        page = _BenchPage(bench, bench_runs, folder, data_roots.get(bench))
        name = f"{safe_id(bench)}.html"
        advance = progress(f"gallery {bench}", len(page.ids)) if progress else (lambda n, failed=0: None)
        (out / name).write_text(page.html(advance), encoding="utf-8")
        if page.note:
            page_notes.append(page.note)
        links.append(
            f'<li><a href="{escape(name)}">{escape(bench)}</a>: {len(page.ids)} samples; runs '
            f"{escape(', '.join(r.label for r in bench_runs))}</li>"
        )
    problems = folder.problems
    if len(problems) > MAX_IMAGE_NOTES:
        problems = problems[:MAX_IMAGE_NOTES] + [f"... and {len(problems) - MAX_IMAGE_NOTES} more images not shown"]
    all_notes = [*notes, *page_notes, *problems]
    body = (
        "<h1>mige-eval report</h1>"
        + "\n".join(html_page.paper_table(t) for t in tables)
        + f"<h2>Galleries</h2><ul>{''.join(links) or '<li>no runs</li>'}</ul>"
        + "<h2>Runs</h2>"
        + "".join(html_page.run_facts(r) for r in runs)
        + ("<h2>Notes</h2>" + html_page.note_list(all_notes) if all_notes else "")
    )
    (out / "index.html").write_text(html_page.page("mige-eval report", body), encoding="utf-8")
    return [*page_notes, *problems]
