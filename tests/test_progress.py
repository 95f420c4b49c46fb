"""Progress log lines (no terminal): when they come and what they say, on a clock the test controls."""

from __future__ import annotations

import io

import pytest

from mige_eval.progress import INTERVAL_ENV, ProgressDisplay, duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_the_interval_with_rate_eta_and_failures(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "10")
    stream, clock = io.StringIO(), Clock()
    display = ProgressDisplay(bar=False, stream=stream, clock=clock)
    advance = display("emuedit · mige", 100)
    clock.now += 4
    advance(8)  # 4 s after the start: within the interval, no line
    clock.now += 6
    advance(12, failed=1)  # 10 s: 20 done at 2/s, 80 left -> 40 s
    clock.now += 5
    advance(10)  # 5 s after the last line: none
    clock.now += 85
    advance(70, failed=2)  # the last sample always prints
    assert stream.getvalue().splitlines() == [
        "emuedit · mige: 100 to do",
        "emuedit · mige: 20/100 (20%), 2.00/s, ETA 40s, 1 failed",
        "emuedit · mige: 100/100 (100%), 1.00/s, took 1m40s, 3 failed",
    ]
    assert display.done == 100
    display("gallery emuedit", 5)(5)
    assert display.done == 105 and stream.getvalue().splitlines()[-1].startswith("gallery emuedit: 5/5 (100%)")


def test_interval_and_durations(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    with pytest.raises(ValueError, match="MIGE_EVAL_PROGRESS_SECONDS='soon' is not a number of seconds"):
        ProgressDisplay(bar=False)
    assert [duration(s) for s in (0.4, 59.6, 61, 3599, 3600, 7620)] == [
        "0s",
        "1m00s",
        "1m01s",
        "59m59s",
        "1h00m",
        "2h07m",
    ]
