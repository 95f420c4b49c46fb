"""Third-party adapters: an installed package with an entry point, and a file given as file.py:Class."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offline_build import copy_sources, pip

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_adapter"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> dict[str, str]:
    """The example package installed (not editable) into its own folder, put on PYTHONPATH; built offline from
    a copy of its sources (tests/offline_build.py)."""
    target = tmp_path_factory.mktemp("site")
    source = copy_sources(EXAMPLE, tmp_path_factory.mktemp("example") / "custom_adapter")
    result = pip("install", "--target", str(target), str(source))
    assert result.returncode == 0, result.stderr
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def test_entry_point_adapter_is_listed_and_runs(installed_example, tmp_path, dreambench_root):
    listing = subprocess.run(
        [sys.executable, "-m", "mige_eval", "list", "models"], capture_output=True, text=True, env=installed_example
    )
    assert "posterize" in listing.stdout.split()
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mige_eval",
            "run",
            "--bench",
            "dreambench",
            "--data",
            str(dreambench_root),
            "--model",
            "posterize",
            "--model-arg",
            "bits=2",
            "--metrics",
            "none",
            "--limit",
            "3",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=installed_example,
    )
    assert result.returncode == 0, result.stderr
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["model"] == "posterize" and run_json["generation"]["adapter_config"] == {"bits": 2}
    assert len(list((out / "images").iterdir())) == 3


def test_file_spec_adapter_runs(tmp_path, dreambench_root):
    spec = f"{EXAMPLE / 'src' / 'my_mige_adapter' / '__init__.py'}:Posterize"
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mige_eval",
            "run",
            "--bench",
            "dreambench",
            "--data",
            str(dreambench_root),
            "--model",
            spec,
            "--metrics",
            "none",
            "--limit",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "run.json").read_text())["generation"]["adapter_config"] == {"bits": 3}
    assert len(list((out / "images").iterdir())) == 2


def _readme_block(marker: str) -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = text.split("```")
    return next(b.split("\n", 1)[1] for b in blocks[1::2] if marker in b)


def test_readme_adapter_example_runs(tmp_path, dreambench_root):
    code = _readme_block("# my_model.py")
    (tmp_path / "my_model.py").write_text(code)
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mige_eval",
            "run",
            "--bench",
            "dreambench",
            "--data",
            str(dreambench_root),
            "--model",
            "my_model.py:Grayscale",
            "--model-arg",
            "strength=0.5",
            "--metrics",
            "none",
            "--limit",
            "2",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "run.json").read_text())["generation"]["adapter_config"] == {"strength": 0.5}


def test_ci_runs_exactly_the_readme_test_command():
    repo = Path(__file__).resolve().parents[1]
    command = _readme_block("python -m pytest").strip()
    assert command in (repo / ".ci" / "run").read_text()
