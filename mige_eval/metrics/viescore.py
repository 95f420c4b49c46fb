"""``vie_sc``, ``vie_pq``, ``vie_o``: VIEScore for instruction editing, as GEdit-Bench computes it.

A vision-language judge (:mod:`mige_eval.metrics.judge`) is asked two questions per sample, with
VIEScore's 0-shot prompts (package data ``judge_prompts/vie_sc.txt``, ``vie_pq.txt``):

- semantic consistency: the source, then the output resized to the source's size, and the
  instruction; the answer is two 0–10 scores (editing success, over-editing), ``vie_sc`` = the smaller;
- perceptual quality: the resized output alone; two 0–10 scores (naturalness, artifacts), ``vie_pq`` =
  the smaller;
- ``vie_o`` = sqrt(``vie_sc`` · ``vie_pq``) per sample.

Values stay on GEdit-Bench's 0–10 scale. The instruction is the sample's plain text (``prompt``, e.g.
MIGEBench's ``caption``; never a text with ``<imagehere>`` slots). GEdit-Bench's headline averages its
task groups (a mean of group means); ``summary.json`` gives the mean over samples and per subset.
"""

from __future__ import annotations

from collections.abc import Sequence

from mige_eval.metrics.base import ScoreItem
from mige_eval.metrics.judge import JudgeMetric
from mige_eval.metrics.judge_parse import Reading, vie_o, vie_pq, vie_sc
from mige_eval.metrics.judge_prompts import PreparedImage, prepare_gedit


class _VieScore(JudgeMetric):
    needs = ("source",)
    text_slot = None

    def images(self, item: ScoreItem, slots: Sequence[str]) -> dict[str, PreparedImage]:
        if "judge:gedit" not in item.derived:
            if item.sample.source is None:
                raise ValueError(f"sample {item.sample.id} has no source image for {self.name}")
            item.derived["judge:gedit"] = prepare_gedit(self.ctx.load(item.sample.source), item.output)
        return item.derived["judge:gedit"]


class VieSc(_VieScore):
    name = "vie_sc"
    label = "VIE-SC"
    prompt_ids = ("vie_sc",)
    text_slot = "instruction"

    def value(self, readings: dict[str, Reading]) -> float:
        return vie_sc(readings["vie_sc"].scores)


class ViePq(_VieScore):
    name = "vie_pq"
    label = "VIE-PQ"
    prompt_ids = ("vie_pq",)

    def value(self, readings: dict[str, Reading]) -> float:
        return vie_pq(readings["vie_pq"].scores)


class VieO(_VieScore):
    name = "vie_o"
    label = "VIE-O"
    prompt_ids = ("vie_sc", "vie_pq")
    text_slot = "instruction"

    def value(self, readings: dict[str, Reading]) -> float:
        return vie_o(vie_sc(readings["vie_sc"].scores), vie_pq(readings["vie_pq"].scores))
