"""``summary.json`` from the merged records: means with confidence intervals, counts, subsets and notes.

Every metric is averaged arithmetically over the samples where it is defined (``null`` values are
excluded and counted). Each mean carries a 95 % bootstrap interval (:mod:`mige_eval.stats`) that
resamples the benchmark's independent units: the record's ``cluster`` (DreamBench subjects, MagicBrush
sessions) or the sample itself. Under the ``x100-clamp-mean`` scale the per-sample values are already
×100 and the mean of each cosine metric (and its interval) is clamped at 0, as KOSMOS-G, OmniGen and
torchmetrics report it.

The top-level numbers are those of each metric's current scoring configuration (``scoring``: metric →
key); ``scorings`` holds the mean, interval and count of every configuration the run has values for, so
a report can show an earlier one without recomputing anything.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mige_eval import stats
from mige_eval.metrics import metric_info

#: What each per-sample flag means, for the notes.
FLAG_TEXT = {
    "all_black": "outputs are entirely black (kept unless preset skip-black)",
    "caption_truncated": "CLIP texts were longer than 77 tokens and truncated (end-of-text kept)",
    "clip_dir_identical_captions": "clip_dir undefined: input and output captions give the same tokens",
    "clip_dir_identical_images": "clip_dir undefined: the output equals its source image",
    "clip_dir_missing_caption": "clip_dir undefined: a caption is missing",
    "emu_identical_captions": "rows whose input and output captions are equal, left out of the metrics "
    "--emu-caption-filter excludes on them",
    "no_detection": "subject crops fell back to the whole image (nothing detected)",
    "no_object_prompt": "subject metrics undefined: the sample has no object prompt",
    "empty_crop": "subject metrics undefined: the detected box rounds to no pixel (output too small to crop)",
    "vie_sc_unparsed": "vie_sc, vie_o undefined: the judge's SC answer holds no 0-10 score list (judgements.jsonl)",
    "vie_pq_unparsed": "vie_pq, vie_o undefined: the judge's PQ answer holds no 0-10 score list (judgements.jsonl)",
    "judge_cp_unparsed": "judge_cp, judge_cp_pf undefined: the judge's CP answer holds no single 'Score: 0-4'",
    "judge_pf_unparsed": "judge_pf, judge_cp_pf undefined: the judge's PF answer holds no single 'Score: 0-4'",
    "judge_no_text": "judge metrics undefined: the sample has no plain-text instruction to show the judge",
    "judge_multi_turn": "judge metrics undefined: a multi-turn chain has no single instruction to show the judge",
}


def _mean_and_interval(
    values: list[float], units: list[Any], cosine: bool, scale: str
) -> tuple[float | None, list | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    interval = stats.mean_interval(values, units)
    bounds = interval.to_json() if interval else None
    if cosine and scale == "x100-clamp-mean":
        mean = max(mean, 0.0)
        bounds = [max(b, 0.0) for b in bounds] if bounds else None
    return mean, bounds


def _aggregate(
    records: Sequence[dict[str, Any]],
    names: Sequence[str],
    scale: str,
    value_of=lambda record, name: (record.get("metrics") or {}).get(name),
) -> dict[str, dict]:
    """Per metric: mean, interval and count over the records where it is defined."""
    out: dict[str, dict] = {}
    for name in names:
        pairs = [(value_of(r, name), r.get("cluster") or r["id"]) for r in records]
        pairs = [(v, u) for v, u in pairs if v is not None]
        mean, ci = _mean_and_interval([v for v, _ in pairs], [u for _, u in pairs], metric_info(name).cosine, scale)
        out[name] = {"mean": mean, "ci": ci, "count": len(pairs)}
    return out


def metric_names(records: Iterable[dict[str, Any]], preferred: Sequence[str] = ()) -> list[str]:
    """Metric names present in the records, the preferred order first."""
    seen = list(preferred)
    for record in records:
        for name in record.get("metrics") or {}:
            if name not in seen:
                seen.append(name)
    return seen


def summarize(
    records: Sequence[dict[str, Any]],
    *,
    bench: str,
    model: str,
    metrics: Sequence[str] = (),
    scale: str = "cosine",
    expected: int | None = None,
    notes: Sequence[str] = (),
    current: Mapping[str, str] | None = None,
    unit: str = "sample",
) -> dict[str, Any]:
    """The summary of merged records (``samples.jsonl`` views); ``current`` maps each metric to the scoring
    key its top-level numbers use (when given, every key found in the records is summarised too)."""
    names = metric_names(records, list(current or metrics))
    ok = [r for r in records if not r.get("error")]
    overall = _aggregate(ok, names, scale)
    missing = {name: len([r for r in ok if name not in (r.get("metrics") or {})]) for name in names}
    by_subset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_subset[str(record.get("subset", ""))].append(record)
    subsets = {}
    for subset in sorted(by_subset):
        group = by_subset[subset]
        part = _aggregate([r for r in group if not r.get("error")], names, scale)
        subsets[subset] = {
            "n": len(group),
            "n_failed": sum(bool(r.get("error")) for r in group),
            "metrics": {k: v["mean"] for k, v in part.items()},
            "ci": {k: v["ci"] for k, v in part.items()},
            "counts": {k: v["count"] for k, v in part.items()},
        }
    n_failed = len(records) - len(ok)
    complete = (expected is None or len(records) >= expected) and not n_failed and not any(missing.values())
    summary = {
        "bench": bench,
        "model": model,
        "n": len(records),
        "n_failed": n_failed,
        "expected": expected,
        "complete": complete,
        "metrics": {k: v["mean"] for k, v in overall.items()},
        "ci": {k: v["ci"] for k, v in overall.items()},
        "counts": {k: v["count"] for k, v in overall.items()},
        "missing": {k: v for k, v in missing.items() if v},
        "uncertainty": {
            "method": "percentile bootstrap",
            "level": stats.LEVEL,
            "resamples": stats.RESAMPLES,
            "seed": stats.SEED,
            "unit": unit,
            "units": len({r.get("cluster") or r["id"] for r in ok}),
        },
        "subsets": subsets,
        "flags": flag_counts(records),
        "notes": list(notes) + _notes(records, ok, names, overall, missing, expected),
    }
    if current is not None:
        summary["scoring"] = dict(current)
        summary["scorings"] = _every_scoring(ok, current, scale, overall)
    return summary


def _every_scoring(
    records: Sequence[dict[str, Any]], current: Mapping[str, str], scale: str, overall: Mapping[str, dict]
) -> dict[str, dict]:
    """Mean, interval and count of every scoring key the records hold an entry for (a current key's are
    ``overall``'s, already computed)."""
    keys = sorted({key for r in records for key in r.get("scores") or {}})
    out = {}
    for key in keys:
        metric = key.partition("@")[0]
        if current.get(metric) == key and metric in overall:
            out[key] = {"metric": metric, **overall[metric], "current": True}
            continue

        def value_of(record, _name, key=key):
            entry = (record.get("scores") or {}).get(key) or {}
            return None if entry.get("error") else entry.get("value")

        out[key] = {"metric": metric, **_aggregate(records, [metric], scale, value_of)[metric], "current": False}
    return out


def flag_counts(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """flag → {"total": n, "subsets": {subset: n}}."""
    total: Counter[str] = Counter()
    per_subset: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for flag in record.get("flags") or ():
            total[flag] += 1
            per_subset[flag][str(record.get("subset", ""))] += 1
    return {flag: {"total": total[flag], "subsets": dict(sorted(per_subset[flag].items()))} for flag in sorted(total)}


def _notes(records, ok, names, overall, missing, expected) -> list[str]:
    notes = []
    if expected is not None and len(records) < expected:
        notes.append(f"incomplete: {len(records)} of {expected} samples have records")
    failed = [r for r in records if r.get("error")]
    if failed:
        shown = ", ".join(r["id"] for r in failed[:10]) + (", ..." if len(failed) > 10 else "")
        notes.append(f"{len(failed)} samples failed (see their 'error' in samples.jsonl): {shown}")
    for name, count in missing.items():
        if count:
            notes.append(f"{name}: not scored yet for {count} samples under its current configuration")
    for flag, info in flag_counts(records).items():
        per = ", ".join(f"{s} {n}" for s, n in info["subsets"].items() if s)
        text = FLAG_TEXT.get(flag, flag)
        notes.append(f"{flag}: {info['total']} samples{f' ({per})' if per else ''} — {text}")
    for name in names:
        undefined = len(ok) - missing[name] - overall[name]["count"]
        if undefined:
            notes.append(f"{name}: null for {undefined} samples, excluded from the mean")
    return notes
