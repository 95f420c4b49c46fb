"""The CI flag MIGE_EVAL_REQUIRE_ALL turns skips (a missing tool, dataset or package) into failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SAMPLE = """
import shutil

import pytest


def test_runs():
    assert True


def test_needs_a_missing_tool():
    if shutil.which("no-such-tool-anywhere") is None:
        pytest.skip("no-such-tool-anywhere not found: install it to run this test")


@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""
MODULE_SKIP = """
import pytest

pytest.importorskip("no_such_package_anywhere", reason="needs no_such_package_anywhere")


def test_never_collected():
    assert True
"""


def run_pytest(folder: Path, flag: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MIGE_EVAL_REQUIRE_ALL"}
    if flag is not None:
        env["MIGE_EVAL_REQUIRE_ALL"] = flag
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "require_all", "-q", "-rA", "-p", "no:cacheprovider", str(folder)],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=300,
    )


def make(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the repository's configuration
    return tmp_path


def test_without_the_flag_skips_stay_skips(tmp_path):
    result = run_pytest(make(tmp_path, test_sample=SAMPLE, test_module_skip=MODULE_SKIP), None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in result.stdout


def test_with_the_flag_a_skipped_test_fails_with_its_reason(tmp_path):
    result = run_pytest(make(tmp_path, test_sample=SAMPLE), "1")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 passed, 1 xfailed" in result.stdout
    assert (
        "skipped, but MIGE_EVAL_REQUIRE_ALL=1 turns every skip into a failure (CI must run everything): "
        "Skipped: no-such-tool-anywhere not found"
    ) in result.stdout
    assert run_pytest(tmp_path, "0").returncode == 0  # "0" switches it off


def test_with_the_flag_a_module_skipped_at_collection_fails(tmp_path):
    result = run_pytest(make(tmp_path, test_module_skip=MODULE_SKIP), "1")
    assert result.returncode != 0, result.stdout
    assert "1 error" in result.stdout and "needs no_such_package_anywhere" in result.stdout


def test_ci_lints_then_tests_with_the_flag_set():
    text = (TESTS.parent / ".ci" / "run").read_text()
    command = text.index("python -m pytest")
    assert text.index("export MIGE_EVAL_REQUIRE_ALL=1") < command
    assert text.index("ruff check .") < command and text.index("ruff format --check .") < command
