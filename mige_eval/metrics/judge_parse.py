"""Reading a judge's answer, and the score arithmetic of VIEScore and DreamBench++.

Both readers accept what the published scripts accept and refuse the rest, with a reason; a refused
answer makes the metric ``null`` (counted), never a guessed number. The published rules:

- VIEScore (``mllm_output_to_dict`` in GEdit-Bench's and TIGER-AI-Lab's ``viescore/utils.py``): the text
  between two ``||V^=^V||`` delimiters, else from the first ``{`` to the last ``}``, is a JSON object whose
  ``score`` is a list (a single number counts as a list of one); without braces, an answer that is just
  ``[a, b]`` or just one integer 0–10 is the list. Where that JSON does not load, GEdit-Bench retries a
  regex repair of the keys; here the ``score`` list is read by pattern instead (same outcome on the
  repairable answers: unquoted keys, stray quotes in the reasoning). Every score must be a number in
  0–10 (GEdit-Bench does not check; an out-of-range score is refused here). GEdit-Bench asks a second
  time and, if that answer fails too, *guesses a random score*; mige-eval records ``null`` instead.
- DreamBench++ (``eval_concept_preservation.py`` / ``eval_prompt_following.py``): the answer must contain
  exactly one match of ``(score|Score):\\s*[a-zA-Z]*\\s*(\\d+)``, an integer; here it must also lie in 0–4.

Scores: ``vie_sc`` = min of the SC list, ``vie_pq`` = min of the PQ list, ``vie_o`` = sqrt(SC · PQ), on
GEdit-Bench's 0–10 scale; ``judge_cp`` = CP / 4, ``judge_pf`` = PF / 4, ``judge_cp_pf`` = their product.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

VIE_DELIMITER = "||V^=^V||"
VIE_MAX, DBP_MAX = 10, 4
_BARE_PAIR = re.compile(r"^\[\d+, ?\d+\]$")
_SCORE_LIST = re.compile(r"""["']?score["']?\s*:\s*(\[[^\[\]]*\]|-?\d+(?:\.\d+)?)""")
_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")
_DBP_SCORE = re.compile(r"(score|Score):\s*[a-zA-Z]*\s*(\d+)")


@dataclass(frozen=True)
class Reading:
    """The scores read from one answer, or why none could be."""

    scores: tuple[float, ...] | None
    problem: str | None = None


def _refused(problem: str) -> Reading:
    return Reading(None, problem)


def read_vie(answer: str) -> Reading:
    """The 0–10 score list of a VIEScore answer (SC or PQ)."""
    if answer.count(VIE_DELIMITER) == 2:
        region = answer[answer.find(VIE_DELIMITER) + len(VIE_DELIMITER) : answer.rfind(VIE_DELIMITER)]
    else:
        start, end = answer.find("{"), answer.rfind("}") + 1
        if start == -1 or end == 0:
            return _vie_without_json(answer)
        region = answer[start:end]
    region = region.strip().replace("\n", "")
    if not region:
        return _refused("the JSON between the delimiters or braces is empty")
    try:
        loaded = json.loads(region)
        scores = loaded.get("score") if isinstance(loaded, dict) else None
        if scores is None:
            return _refused("the JSON object has no 'score'")
    except json.JSONDecodeError:
        match = _SCORE_LIST.search(region)
        if not match:
            return _refused("the JSON does not load and holds no 'score' list")
        items = match.group(1).strip("[]").split(",") if match.group(1).startswith("[") else [match.group(1)]
        if not all(_NUMBER.match(i) for i in items):
            return _refused(f"the 'score' list {match.group(1)!r} is not a list of numbers")
        scores = [float(i) for i in items]
    return _checked(scores if isinstance(scores, list) else [scores], VIE_MAX)


def _vie_without_json(answer: str) -> Reading:
    """No braces: a bare ``[a, b]`` or a bare integer 0–10 (GEdit-Bench's two fallbacks)."""
    start, end = answer.find("["), answer.rfind("]") + 1
    if _BARE_PAIR.match(answer[start:end]):
        return _checked(json.loads(answer[start:end]), VIE_MAX)
    try:
        number = int(answer)
    except ValueError:
        return _refused("no JSON object, '[a, b]' list or single score in the answer")
    return _checked([number], VIE_MAX)


def _checked(scores: list, top: int) -> Reading:
    if not scores:
        return _refused("the score list is empty")
    if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
        return _refused(f"the score list {scores!r} holds something other than numbers")
    if not all(0 <= s <= top for s in scores):
        return _refused(f"the score list {scores!r} leaves the 0-{top} range")
    return Reading(tuple(float(s) for s in scores))


def read_dbp(answer: str) -> Reading:
    """The one 0–4 score of a DreamBench++ answer (``Score: N``)."""
    found = [int(n) for _, n in _DBP_SCORE.findall(answer)]
    if len(found) != 1:
        return _refused(f"expected exactly one 'Score: N', found {len(found)}")
    return _checked(found, DBP_MAX)


def vie_sc(scores: tuple[float, ...]) -> float:
    """Semantic consistency: the smaller of (editing success, over-editing)."""
    return min(scores)


def vie_pq(scores: tuple[float, ...]) -> float:
    """Perceptual quality: the smaller of (naturalness, artifacts)."""
    return min(scores)


def vie_o(sc: float, pq: float) -> float:
    """Overall: the geometric mean of SC and PQ."""
    return math.sqrt(sc * pq)


def dbp_unit(score: float) -> float:
    """A DreamBench++ 0–4 score on 0–1, as its ``cal_score`` divides by 4."""
    return score / DBP_MAX
