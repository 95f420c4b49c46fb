"""``MIGE_EVAL_REQUIRE_ALL=1``: every skip becomes a failure, so a green CI means every test ran.

Tests skip where something they need is missing: pdflatex or Chromium for the report tests, the real
DreamBench, an optional package, torchrun. On a developer's machine that is the right answer; in CI,
where ``.ci/run`` installs all of it, a skip means an install failed and the test proved nothing.
Under the flag a skipped test, or a test module skipped while it is collected, is reported as failed
with the skip's reason. Expected failures (``xfail``) are left alone.

Loaded by tests/conftest.py; ``pytest -p require_all`` loads it elsewhere (its own test does).
"""

from __future__ import annotations

import os

import pytest

FLAG = "MIGE_EVAL_REQUIRE_ALL"


def required() -> bool:
    return os.environ.get(FLAG, "").strip().lower() not in ("", "0", "false", "no")


def _as_failure(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped, but {FLAG}=1 turns every skip into a failure (CI must run everything): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and required():
        _as_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and required():
        _as_failure(report)
