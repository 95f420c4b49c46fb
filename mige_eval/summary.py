"""``summary.json`` from the merged records: means, counts, per-subset breakdowns and notes.

Every metric is averaged arithmetically over the samples where it is defined (``null`` values are
excluded and counted). Under the ``x100-clamp-mean`` scale the per-sample values are already ×100 and
the mean of each cosine metric is clamped at 0, as KOSMOS-G, OmniGen and torchmetrics report it.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

#: Metrics that are cosines (the ``scale`` preset applies to them).
COSINE_METRICS = frozenset({"dino", "clip_i", "clip_t", "clip_dir", "subject_dino", "subject_clip_i"})

#: What each per-sample flag means, for the notes.
FLAG_TEXT = {
    "all_black": "outputs are entirely black (kept unless preset skip-black)",
    "caption_truncated": "CLIP texts were longer than 77 tokens and truncated (end-of-text kept)",
    "clip_dir_identical_captions": "clip_dir undefined: input and output captions give the same tokens",
    "clip_dir_identical_images": "clip_dir undefined: the output equals its source image",
    "clip_dir_missing_caption": "clip_dir undefined: a caption is missing",
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


def _means(records: Sequence[dict[str, Any]], names: Sequence[str], scale: str) -> tuple[dict, dict]:
    means: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for name in names:
        values = [r["metrics"][name] for r in records if r.get("metrics", {}).get(name) is not None]
        counts[name] = len(values)
        mean = sum(values) / len(values) if values else None
        if mean is not None and scale == "x100-clamp-mean" and name in COSINE_METRICS:
            mean = max(mean, 0.0)
        means[name] = mean
    return means, counts


def metric_names(records: Iterable[dict[str, Any]], preferred: Sequence[str] = ()) -> list[str]:
    """Metric names present in the records, the preferred order first."""
    seen = list(preferred)
    for record in records:
        for name in record.get("metrics") or {}:
            if name not in seen:
                seen.append(name)
    return seen


def summarize(records: Sequence[dict[str, Any]], *, bench: str, model: str, metrics: Sequence[str] = (),
              scale: str = "cosine", expected: int | None = None, notes: Sequence[str] = ()) -> dict[str, Any]:
    names = metric_names(records, metrics)
    ok = [r for r in records if not r.get("error")]
    means, counts = _means(ok, names, scale)
    by_subset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_subset[str(record.get("subset", ""))].append(record)
    subsets = {}
    for subset in sorted(by_subset):
        group = by_subset[subset]
        good = [r for r in group if not r.get("error")]
        sub_means, sub_counts = _means(good, names, scale)
        subsets[subset] = {"n": len(group), "n_failed": len(group) - len(good), "metrics": sub_means,
                           "counts": sub_counts}
    return {
        "bench": bench,
        "model": model,
        "n": len(records),
        "n_failed": len(records) - len(ok),
        "metrics": means,
        "counts": counts,
        "subsets": subsets,
        "flags": flag_counts(records),
        "notes": list(notes) + _notes(records, ok, names, counts, expected),
    }


def flag_counts(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """flag → {"total": n, "subsets": {subset: n}}."""
    total: Counter[str] = Counter()
    per_subset: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for flag in record.get("flags") or ():
            total[flag] += 1
            per_subset[flag][str(record.get("subset", ""))] += 1
    return {flag: {"total": total[flag], "subsets": dict(sorted(per_subset[flag].items()))} for flag in sorted(total)}


def _notes(records, ok, names, counts, expected) -> list[str]:
    notes = []
    if expected is not None and len(records) < expected:
        notes.append(f"incomplete: {len(records)} of {expected} samples have records")
    failed = [r for r in records if r.get("error")]
    if failed:
        shown = ", ".join(r["id"] for r in failed[:10]) + (", ..." if len(failed) > 10 else "")
        notes.append(f"{len(failed)} samples failed (see their 'error' in samples.jsonl): {shown}")
    for flag, info in flag_counts(records).items():
        per = ", ".join(f"{s} {n}" for s, n in info["subsets"].items() if s)
        text = FLAG_TEXT.get(flag, flag)
        notes.append(f"{flag}: {info['total']} samples{f' ({per})' if per else ''} — {text}")
    for name in names:
        undefined = len(ok) - counts[name]
        if undefined and any(name in (r.get("metrics") or {}) for r in ok):
            notes.append(f"{name}: null for {undefined} samples, excluded from the mean")
    return notes
