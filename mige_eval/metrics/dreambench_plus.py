"""``judge_cp``, ``judge_pf``, ``judge_cp_pf``: DreamBench++'s judge scores for subject-driven generation.

A vision-language judge (:mod:`mige_eval.metrics.judge`) is asked DreamBench++'s "full" prompts
(package data ``judge_prompts/dbp_cp.txt``, ``dbp_pf.txt``): the task text as a user turn, the
acknowledgement as an assistant turn, then the sample —

- concept preservation: the subject photo the model was given (``subject_photo``), then the output;
- prompt following: the text prompt (the sample's plain-text ``prompt``), then the output;

every image squashed to 512x512 and JPEG-encoded. Each answer holds one ``Score: N`` with N in 0–4;
``judge_cp`` = CP / 4 and ``judge_pf`` = PF / 4, as DreamBench++'s ``cal_score`` scales them.

``judge_cp_pf`` is the product CP/4 · PF/4 *per sample*, so its mean is the mean of products.
DreamBench++'s "CP·PF" column is the product of the two means; compute it from the ``judge_cp`` and
``judge_pf`` means of ``summary.json`` (docs/judges.md). DreamBench++ also samples GPT-4o at
temperature 1 and averages three runs; mige-eval asks once, greedily.
"""

from __future__ import annotations

from collections.abc import Sequence

from mige_eval.metrics.base import ScoreItem
from mige_eval.metrics.judge import JudgeMetric
from mige_eval.metrics.judge_parse import Reading, dbp_unit
from mige_eval.metrics.judge_prompts import PreparedImage, prepare_dreambench_plus


class _DreamBenchPlus(JudgeMetric):
    def images(self, item: ScoreItem, slots: Sequence[str]) -> dict[str, PreparedImage]:
        for slot in slots:
            if f"judge:dbp:{slot}" in item.derived:
                continue
            if slot == "reference":
                if item.sample.subject_photo is None:
                    raise ValueError(f"sample {item.sample.id} has no subject photo for {self.name}")
                image = self.ctx.load(item.sample.subject_photo)
            else:
                image = item.output
            item.derived[f"judge:dbp:{slot}"] = prepare_dreambench_plus(image)
        return {slot: item.derived[f"judge:dbp:{slot}"] for slot in slots}


class JudgeCp(_DreamBenchPlus):
    name = "judge_cp"
    label = "CP"
    needs = ("subject_photo",)
    prompt_ids = ("dbp_cp",)

    def value(self, readings: dict[str, Reading]) -> float:
        return dbp_unit(readings["dbp_cp"].scores[0])


class JudgePf(_DreamBenchPlus):
    name = "judge_pf"
    label = "PF"
    prompt_ids = ("dbp_pf",)
    text_slot = "prompt"

    def value(self, readings: dict[str, Reading]) -> float:
        return dbp_unit(readings["dbp_pf"].scores[0])


class JudgeCpPf(_DreamBenchPlus):
    name = "judge_cp_pf"
    label = "CP·PF (per sample)"
    needs = ("subject_photo",)
    prompt_ids = ("dbp_cp", "dbp_pf")
    text_slot = "prompt"

    def value(self, readings: dict[str, Reading]) -> float:
        return dbp_unit(readings["dbp_cp"].scores[0]) * dbp_unit(readings["dbp_pf"].scores[0])
