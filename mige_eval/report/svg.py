"""Inline SVG histograms of per-sample metric values, so the gallery needs no plotting library."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, SIDE, TOP, BOTTOM, BINS = 240, 120, 10, 30, 18, 20


def histogram(values: Sequence[float], title: str) -> str:
    """A histogram of ``values`` over their range, with the mean marked; an empty plot says so."""
    head = (
        f'<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<text x="4" y="12" class="t">{escape(title)}</text>'
    )
    if not values:
        return head + f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no values</text></svg>'
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, int((v - lo) / (hi - lo) * BINS))] += 1
    plot_w, plot_h = WIDTH - 2 * SIDE, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / BINS
    top = max(counts)
    bars = "".join(
        f'<rect x="{SIDE + i * bar_w:.1f}" y="{TOP + plot_h * (1 - c / top):.1f}" width="{bar_w - 1:.1f}" '
        f'height="{plot_h * c / top:.1f}"><title>{c}</title></rect>'
        for i, c in enumerate(counts)
        if c
    )
    mean = sum(values) / len(values)
    mx = SIDE + (mean - lo) / (hi - lo) * plot_w
    base = TOP + plot_h
    return (
        head
        + bars
        + f'<line x1="{SIDE}" y1="{base}" x2="{SIDE + plot_w}" y2="{base}" class="axis"/>'
        + f'<line x1="{mx:.1f}" y1="{TOP - 4}" x2="{mx:.1f}" y2="{base}" class="mean"/>'
        + f'<text x="{SIDE}" y="{HEIGHT - 4}">{lo:.3f}</text>'
        + f'<text x="{SIDE + plot_w}" y="{HEIGHT - 4}" text-anchor="end">{hi:.3f}</text>'
        + f'<text x="{WIDTH - 4}" y="24" text-anchor="end" class="m">mean {mean:.3f}, n={len(values)}</text></svg>'
    )
