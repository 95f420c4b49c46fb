from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mige_eval.registry import ADAPTERS, BENCHMARKS, UnknownNameError


def test_unknown_model_lists_names_and_suggests():
    with pytest.raises(UnknownNameError) as info:
        ADAPTERS.load("copy-sorce")
    text = str(info.value)
    assert "Did you mean 'copy-source'" in text and "instructpix2pix" in text and "file.py:ClassName" in text


def test_unknown_benchmark_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'dreambench'"):
        BENCHMARKS.target("dreambnch")


def test_file_and_module_specs(tmp_path):
    path = tmp_path / "my_adapter.py"
    path.write_text(
        textwrap.dedent("""
        from mige_eval.types import Adapter
        class Mine(Adapter):
            name = "mine"
            tasks = frozenset({"edit"})
            def generate(self, requests):
                return []
    """)
    )
    assert ADAPTERS.load(f"{path}:Mine").name == "mine"
    assert ADAPTERS.load("mige_eval.adapters.copy_source:CopySource").name == "copy-source"
    with pytest.raises(UnknownNameError, match="has no attribute 'Nope'"):
        ADAPTERS.load(f"{path}:Nope")
    with pytest.raises(UnknownNameError, match="does not exist"):
        ADAPTERS.load(f"{tmp_path / 'absent.py'}:X")
    with pytest.raises(UnknownNameError, match="cannot import module 'no_such_pkg.mod'"):
        ADAPTERS.load("no_such_pkg.mod:X")


def test_listing_imports_no_model_code():
    code = (
        "import sys; from mige_eval.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['list']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules]; "
        "assert not heavy, heavy; print(r.output)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "copy-source" in out.stdout and "dreambench" in out.stdout and "clip_dir" in out.stdout
