"""One "did you mean" for every name a user types: models, benchmarks, presets, metrics, options and their values."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mige_eval.names import did_you_mean

REPO = Path(__file__).resolve().parents[1]


def test_did_you_mean_offers_up_to_three_close_names():
    assert did_you_mean("mgie", ["mige", "folder", "copy-source"]) == " Did you mean 'mige'?"
    # closest first (difflib's ratio; ties keep the later name first), at most three
    assert (
        did_you_mean("clip", ["clip_i", "clip_t", "clip_dir", "dino"])
        == " Did you mean 'clip_t' or 'clip_i' or 'clip_dir'?"
    )
    assert did_you_mean("zzz", ["mige", "dino"]) == ""
    assert did_you_mean(3, ["3a", "3b"]) == " Did you mean '3b' or '3a'?"  # non-strings are compared as text


def _registry_model():
    from mige_eval.registry import ADAPTERS

    ADAPTERS.target("mgie")


def _registry_bench():
    from mige_eval.registry import BENCHMARKS

    BENCHMARKS.target("dreambenc")


def _preset():
    from mige_eval.presets import Presets

    Presets.from_names(["clip-l41"])


def _metric():
    from mige_eval.metrics import parse_metric_names

    parse_metric_names("dino,clipi", [])


def _option_value():
    from mige_eval.adapters.options import choice

    choice("noise", "per_sample", ("per-sample", "authors"))


def _adapter_option():
    from mige_eval.runner import build_adapter

    build_adapter("instructpix2pix", {"stpes": 3}, "cpu")


def _device():
    from mige_eval.runtime import resolve_device

    resolve_device("cdua")


def _dtype():
    from mige_eval.runtime import resolve_dtype

    resolve_dtype("bf61", "cpu")


def _report_format():
    from mige_eval.report.render import render

    render([], "mardown")


def _reproduce_table(tmp_path):
    from mige_eval.reproduce import reproduce

    reproduce("3a", ["copy-source"], results=tmp_path)


def _emu_caption_filter():
    from mige_eval.benchmarks.open import open_benchmark

    open_benchmark("emuedit", options={"emu_caption_filter": "identicl"})


LOOKUPS = [
    (_registry_model, "'mige'"),
    (_registry_bench, "'dreambench'"),
    (_preset, "'clip-l14'"),
    (_metric, "'clip_i'"),
    (_option_value, "'per-sample'"),
    (_adapter_option, "'steps'"),
    (_device, "'cuda'"),
    (_dtype, "'bf16'"),
    (_report_format, "'markdown'"),
    (_reproduce_table, "'3'"),
    (_emu_caption_filter, "'identical'"),
]


@pytest.mark.parametrize(("lookup", "suggestion"), LOOKUPS, ids=lambda v: getattr(v, "__name__", v))
def test_every_name_lookup_suggests_the_close_name(lookup, suggestion, tmp_path):
    if lookup in (_device, _dtype):
        pytest.importorskip("torch", reason="needs the metrics extra: pip install -e '.[metrics]'")
    with pytest.raises(Exception) as caught:  # each lookup's own error type; the message is what is shared
        lookup(tmp_path) if lookup is _reproduce_table else lookup()
    assert f"Did you mean {suggestion}" in str(caught.value)


def test_the_list_command_suggests_too():
    from mige_eval.cli import app

    result = CliRunner().invoke(app, ["list", "modls"])
    assert result.exit_code == 2 and "unknown list 'modls'" in result.output
    assert "Did you mean 'models'?" in result.output


def test_difflib_is_used_by_the_one_helper_only():
    folders = ("mige_eval", "benchmarks", "baselines", "mige_model")
    sources = [p for folder in folders for p in (REPO / folder).rglob("*.py")]
    assert [p.relative_to(REPO).as_posix() for p in sources if "difflib" in p.read_text()] == ["mige_eval/names.py"]
