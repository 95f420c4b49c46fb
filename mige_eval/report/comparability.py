"""Whether a run's numbers may stand beside the published rows, and what it did differently, in words.

A run is *comparable* with the published rows of its benchmark only when

- it is complete: every sample of the full evaluation set has a record (``summary.json`` ``n`` =
  ``expected`` = the published set's size, :data:`~mige_eval.report.published.EVALUATION_SAMPLES`),
  none failed, and every metric shown is scored on every sample under the configuration shown;
- it used the benchmark's default backbones (by hub id: a local checkpoint cannot be told apart from
  any other weights) and the default of every preset and benchmark option its images and scores depend
  on — or the option the published row of the same method is known to have used
  (:data:`~mige_eval.report.published.ROW_CONVENTIONS`).

Every report format takes its verdict from :func:`assess`; none decides it on its own. The texts
are what a paper can print: no paths, no file names; the provenance (paths, digests, keys) goes to
the report's notes and comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mige_eval.metrics.grounding import SAM_ID
from mige_eval.presets import AREAS, BACKBONE_IDS, BENCH_OPTION_DEFAULTS
from mige_eval.report.published import EVALUATION_SAMPLES, ROW_CONVENTIONS, match_method, methods_on

if TYPE_CHECKING:
    from mige_eval.report.runs import RunInfo

#: Backbone role -> the hub id a default run loads.
DEFAULT_BACKBONES = {
    "clip": BACKBONE_IDS[AREAS["clip_backbone"][0]],
    "dino": BACKBONE_IDS[AREAS["dino_backbone"][0]],
    "detector": BACKBONE_IDS[AREAS["detector"][0]],
    "sam": SAM_ID,
}
ROLE_WORDS = {"clip": "CLIP backbone", "dino": "DINO backbone", "detector": "detector", "sam": "segmenter"}

#: Non-default preset options in words a caption can print (the option's name in parentheses).
OPTION_WORDS = {
    "fp16": "backbones in half precision (fp16)",
    "bf16": "backbones in bfloat16 (bf16)",
    "x100-clamp-mean": "scores x100 with the mean clamped at 0 (x100-clamp-mean)",
    "clamp-per-sample": "cosines clamped at 0 per sample (clamp-per-sample)",
    "strict": "over-long CLIP texts fail the sample (strict)",
    "raw-diff": "CLIPdir from unnormalised embedding differences (raw-diff)",
    "ip2p": "CLIPdir with InstructPix2Pix preprocessing (ip2p)",
    "zero": "CLIPdir 0 where the caption direction is zero (zero)",
    "center-crop-ref": "L1/L2 against the centre-cropped reference (center-crop-ref)",
    "jpeg75": "outputs JPEG-compressed at quality 75 before scoring (jpeg75)",
    "skip-black": "all-black outputs left out (skip-black)",
    "multi-turn": "MagicBrush multi-turn chains (multi-turn)",
    "single-reference": "only the input photo as DreamBench reference (single-reference)",
    "entity-white": "MIGEBench subject photos on white (entity-white)",
    "mige-examples": "DreamBench input photos of the MIGE authors' examples (mige-examples)",
    "segmented": "DreamBench subjects segmented on black as input (segmented)",
}
BENCH_OPTION_WORDS = {
    ("emu_caption_filter", "none"): "Emu Edit identical-caption rows kept in every metric (caption filter none)",
    ("emu_caption_filter", "identical"): "Emu Edit identical-caption rows left out of every metric "
    "(caption filter identical)",
}


@dataclass(frozen=True)
class Deviation:
    """A setting other than the benchmark's default, in words."""

    text: str
    allowed_by: str | None = None  # the published row whose convention it follows

    def __str__(self) -> str:
        return self.text + (f", as the published {self.allowed_by} row" if self.allowed_by else "")


@dataclass(frozen=True)
class Verdict:
    """A run's standing against the published rows of its benchmark."""

    method: str | None  # the published method the run reproduces, if any
    deviations: tuple[Deviation, ...]
    shortfalls: tuple[str, ...]  # what keeps it from being complete
    published: bool  # its benchmark has published rows at all

    @property
    def reasons(self) -> list[str]:
        """Why the run is not comparable (empty when it is)."""
        return [*self.shortfalls, *(d.text for d in self.deviations if not d.allowed_by)]

    @property
    def comparable(self) -> bool:
        return self.published and not self.reasons


def backbone_words(role: str, fingerprint: str) -> str:
    """``"CLIP backbone openai/clip-vit-large-patch14"``, or ``"... a local checkpoint"`` (never its path)."""
    model = fingerprint.split("@")[0]
    what = "a local checkpoint" if model == "local" else model
    return f"{ROLE_WORDS.get(role, role)} {what}"


def _backbone_detail(role: str, fingerprint: str) -> str:
    """Backbone words with the revision (a local checkpoint's digest prefix) and precision: provenance."""
    _, _, rest = fingerprint.partition("@")
    revision, _, precision = rest.partition("|")
    revision = revision[:15] if revision.startswith("sha256:") else revision[:12]
    return f"{backbone_words(role, fingerprint)} ({', '.join(p for p in (revision, precision) if p)})"


def describe(settings: dict[str, Any]) -> str:
    """A scoring configuration in one line: its backbones (revision, precision) and every option it
    depends on, e.g. ``"CLIP backbone openai/clip-vit-base-patch32 (0123abc, fp32); options fp32, cosine,
    png, keep, dreambooth"``."""
    models = dict(settings.get("models") or {})
    crops = settings.get("crops") or {}
    models.update({role: crops[role] for role in ("detector", "sam") if role in crops})
    parts = [_backbone_detail(role, fingerprint) for role, fingerprint in models.items()]
    options = [v for k, v in settings.items() if k in AREAS]
    for part in (settings.get("outputs") or {}, settings.get("benchmark") or {}):
        options += [v if k in AREAS else f"{k.replace('_', ' ')} {v}" for k, v in part.items() if k != "name"]
    if "threshold" in crops:
        options.append(f"box threshold {crops['threshold']}")
    return "; ".join(parts + ([f"options {', '.join(map(str, options))}"] if options else [])) or "no settings"


def _option_words(option: str) -> str:
    return OPTION_WORDS.get(option, f"preset {option}")


def deviations(run: RunInfo, method: str | None = None) -> list[Deviation]:
    """What the run's images and shown scores depend on that differs from the benchmark's defaults."""
    convention = ROW_CONVENTIONS.get((method, run.bench)) if method else None
    allowed = convention.options if convention else {}
    out = []
    for area, option in run.presets().items():
        if option != AREAS[area][0]:
            out.append(Deviation(_option_words(option), method if allowed.get(area) == option else None))
    for key, value in run.bench_options().items():
        if value != BENCH_OPTION_DEFAULTS.get(key, value):
            out.append(Deviation(BENCH_OPTION_WORDS.get((key, value), f"{key.replace('_', ' ')} {value}")))
    for role, fingerprint in run.backbones().items():
        if fingerprint.split("@")[0] != DEFAULT_BACKBONES.get(role):
            out.append(Deviation(backbone_words(role, fingerprint)))
    return out


def shortfalls(run: RunInfo) -> list[str]:
    """Why the run does not cover the published evaluation set completely, in words."""
    if not run.run:
        return ["run.json is missing, so its settings cannot be checked"]
    figures = run.figures
    n, failed = run.count()
    expected = figures.get("expected")
    published = EVALUATION_SAMPLES.get(run.bench)
    out = []
    if expected is None:
        out.append("its summary does not say how many samples the benchmark has")
    elif n < expected:
        out.append(f"incomplete: {n:,} of {expected:,} samples")
    if published is not None and expected is not None and expected != published:
        out.append(f"its copy of the benchmark has {expected:,} samples, the published evaluation set {published:,}")
    if failed:
        out.append(f"{failed:,} failed sample{'s' if failed != 1 else ''}")
    for metric, count in (figures.get("missing") or {}).items():
        out.append(f"{metric} not scored on {count:,} sample{'s' if count != 1 else ''}")
    if not out and figures.get("complete") is not True:
        out.append("its summary does not record it as complete")
    return out


def method_of(run: RunInfo) -> str | None:
    """The published method a run reproduces on its benchmark (by its model name)."""
    return match_method(run.model, methods_on(run.bench))


def assess(run: RunInfo) -> Verdict:
    """The run's verdict: comparable with its benchmark's published rows, or why not."""
    method = method_of(run)
    return Verdict(method, tuple(deviations(run, method)), tuple(shortfalls(run)), run.bench in EVALUATION_SAMPLES)
