"""Reading judge answers as GEdit-Bench's VIEScore and DreamBench++ read them, and the score arithmetic."""

from __future__ import annotations

import pytest

from mige_eval.metrics.judge_parse import dbp_unit, read_dbp, read_vie, vie_o, vie_pq, vie_sc

VIE_READABLE = [
    # delimited JSON (the prompt format with delimiters)
    ('||V^=^V||{"score": [7, 3], "reasoning": "ok"}||V^=^V||', (7.0, 3.0)),
    # JSON between the first { and the last }, with text around and newlines inside
    ('Here you go:\n{\n"score" : [8, 10],\n"reasoning" : "fine"\n}\nThanks', (8.0, 10.0)),
    # a single score counts as a list of one; floats are kept
    ('{"score": 6.5, "reasoning": "x"}', (6.5,)),
    # no braces: a bare pair, a bare integer
    ("[4, 9]", (4.0, 9.0)),
    ("The scores are [4,9]", (4.0, 9.0)),
    (" 5\n", (5.0,)),
    # JSON that does not load (unquoted keys, quotes inside the reasoning): the score list by pattern
    ('{score: [2, 5], reasoning: it is "odd"}', (2.0, 5.0)),
    ('{"score": [3, 4], "reasoning": "the "dog" is blue"}', (3.0, 4.0)),
    ("{'score': 7, 'reasoning': 'single quotes'}", (7.0,)),
]
VIE_UNREADABLE = [
    ("I cannot evaluate this image.", "no JSON object"),
    ("[4, 9, 1]", "no JSON object"),  # GEdit-Bench's bare-list rule takes exactly two integers
    ('{"reasoning": "no score"}', "no 'score'"),
    ('{"score": [], "reasoning": ""}', "empty"),
    ('{"score": [7, 11]}', "0-10 range"),
    ('{"score": [-1, 3]}', "0-10 range"),
    ('{"score": ["7", "8"]}', "other than numbers"),
    ('{"score": [true, 3]}', "other than numbers"),
    ("11", "0-10 range"),
    ("||V^=^V||||V^=^V||", "empty"),
    ("{score: [a, b]}", "not a list of numbers"),
    ("} backwards {", "empty"),
]


@pytest.mark.parametrize("answer,scores", VIE_READABLE)
def test_vie_answers_that_gedit_bench_reads(answer, scores):
    reading = read_vie(answer)
    assert reading.scores == scores and reading.problem is None


@pytest.mark.parametrize("answer,problem", VIE_UNREADABLE)
def test_vie_answers_that_are_refused_with_a_reason_not_guessed(answer, problem):
    reading = read_vie(answer)
    assert reading.scores is None and problem in reading.problem


@pytest.mark.parametrize(
    "answer,score",
    [
        ("Score: 3", 3.0),
        ("Analysis: the dog is there.\nScore: 4", 4.0),
        ("score: 0", 0.0),
        ("Score: Good 2", 2.0),  # the published pattern allows a word between the colon and the number
        ("Score:2 (fair)", 2.0),
    ],
)
def test_dreambench_plus_answers_read_by_the_published_pattern(answer, score):
    assert read_dbp(answer).scores == (score,)


@pytest.mark.parametrize(
    "answer,problem",
    [
        ("Score: 3\nScore: 4", "found 2"),
        ("I'd say 3", "found 0"),
        ("Score: [3]", "found 0"),
        ("Score: 5", "0-4 range"),
        ("SCORE: 3", "found 0"),
    ],
)
def test_dreambench_plus_answers_refused(answer, problem):
    reading = read_dbp(answer)
    assert reading.scores is None and problem in reading.problem


def test_score_arithmetic_follows_the_published_definitions():
    # VIEScore (GEdit-Bench): SC = min(success, over-editing), PQ = min(naturalness, artifacts), O = sqrt(SC*PQ).
    assert vie_sc((7.0, 4.0)) == 4.0 and vie_pq((9.0, 6.0)) == 6.0
    assert vie_o(4.0, 6.0) == pytest.approx(4.898979485566356, abs=1e-15)  # sqrt(24)
    assert vie_o(0.0, 10.0) == 0.0 and vie_o(10.0, 10.0) == 10.0
    # DreamBench++: a 0-4 score over 4.
    assert [dbp_unit(s) for s in (0, 1, 2, 3, 4)] == [0.0, 0.25, 0.5, 0.75, 1.0]
