"""Command-line behaviour: listing, errors a user sees, options, report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mige_eval.cli import app, parse_model_args

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    """The words of a console output, without Rich's line wrapping and panel borders."""
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def test_version_and_list():
    assert invoke("--version").output.startswith("mige-eval ")
    result = invoke("list", "models")
    assert result.exit_code == 0 and "copy-source" in result.output and "dreambench" not in result.output
    assert invoke("list", "things").exit_code == 2


def test_unknown_bench_and_model_show_known_names(tmp_path):
    result = invoke("run", "--bench", "dreambenc", "--model", "copy-source", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "Did you mean 'dreambench'" in result.output
    assert "emuedit" in result.output
    result = invoke("run", "--bench", "dreambench", "--model", "mgie", "--data", str(tmp_path))
    assert result.exit_code == 2 and "unknown model 'mgie'" in result.output and "Did you mean 'mige'" in result.output


def test_missing_data_folder(tmp_path):
    result = invoke(
        "run",
        "--bench",
        "dreambench",
        "--model",
        "copy-source",
        "--data",
        str(tmp_path / "absent"),
        "--metrics",
        "none",
    )
    assert result.exit_code == 2 and "absent does not exist" in result.output and "--data" in result.output


def test_unknown_metric_and_model_option(tmp_path, dreambench_root):
    result = invoke(
        "run",
        "--bench",
        "dreambench",
        "--model",
        "copy-source",
        "--data",
        str(dreambench_root),
        "--metrics",
        "dino,clipi",
    )
    assert result.exit_code == 2 and "Did you mean 'clip_i'" in result.output
    result = invoke(
        "run",
        "--bench",
        "dreambench",
        "--model",
        "copy-source",
        "--data",
        str(dreambench_root),
        "--metrics",
        "none",
        "--model-arg",
        "steps=3",
        "--out",
        str(tmp_path / "r"),
    )
    assert result.exit_code == 2 and "adapter copy-source has no option(s) steps" in result.output


def test_model_args_are_json_when_possible():
    assert parse_model_args(["steps=50", "scale=7.5", "fp16=true", "model_id=a/b", "name=", 'x={"a": 1}']) == {
        "steps": 50,
        "scale": 7.5,
        "fp16": True,
        "model_id": "a/b",
        "name": "",
        "x": {"a": 1},
    }


def test_score_a_folder_of_images_with_missing_ids(tmp_path, dreambench_root):
    images = tmp_path / "outputs"
    images.mkdir()
    for sample_id, subject in (("backpack-00", "backpack"), ("backpack-01", "dog")):
        (images / f"{sample_id}.jpg").write_bytes((dreambench_root / subject / "00.jpg").read_bytes())
    out = tmp_path / "scored"
    result = invoke(
        "score",
        "--bench",
        "dreambench",
        "--data",
        str(dreambench_root),
        "--images",
        str(images),
        "--metrics",
        "none",
        "--limit",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 1
    assert "1 of 3 samples to score have no output (they fail): backpack-02" in result.output
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["error"] is None for r in records] == [True, True, False]
    assert "no output for sample backpack-02: looked for <sample id>.png" in records[2]["error"]
    assert [r["image"] for r in records] == ["images/backpack-00.jpg", "images/backpack-01.jpg", None]


def test_report_prints_runs_and_notes_broken_ones(tmp_path, dreambench_root):
    out = tmp_path / "runs" / "dreambench" / "copy-source"
    assert (
        invoke(
            "run",
            "--bench",
            "dreambench",
            "--model",
            "copy-source",
            "--data",
            str(dreambench_root),
            "--metrics",
            "none",
            "--limit",
            "2",
            "--out",
            str(out),
            "--quiet",
        ).exit_code
        == 0
    )
    broken = tmp_path / "runs" / "dreambench" / "half"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{}")
    result = invoke("report", str(tmp_path / "runs"))
    assert result.exit_code == 0
    assert "| dreambench | copy-source | 2 | 0 |" in result.output
    assert "half: no summary.json" in result.output


COMMANDS = ["run", "score", "list", "report", "reproduce", "download", "verify", "convert-mige"]


def test_every_command_takes_dash_h_and_shows_flags_as_flags():
    from mige_eval.cli import EXTRA_COMMANDS

    assert set(EXTRA_COMMANDS) <= set(COMMANDS)
    top = invoke("-h")
    assert top.exit_code == 0 and "--version" in top.output and "<bool>" not in top.output
    assert all(name in top.output for name in COMMANDS)
    for name in COMMANDS:
        result = invoke(name, "-h")
        assert result.exit_code == 0 and f" {name} [OPTIONS]" in result.output, (name, result.output)
        assert "<bool>" not in result.output, name
    assert "--overwrite  " in invoke("run", "--help").output.replace("│", " ")


def test_convert_mige_is_a_lazy_command_with_the_function_s_own_help():
    from mige_eval.cli import EXTRA_COMMANDS
    from mige_eval.registry import import_spec

    target, summary = EXTRA_COMMANDS["convert-mige"]
    assert import_spec(target, what="test").__doc__.strip() == summary
    assert "Hub revision (branch, tag or commit) of SRC" in invoke("convert-mige", "-h").output


def test_help_and_list_import_no_model_code():
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from mige_eval.cli import app; "
        "outputs = [CliRunner().invoke(app, args) for args in (['--help'], ['list'], ['run', '-h'])]; "
        "assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'diffusers', 'datasets', 'pyarrow', 'huggingface_hub', 'mige_model')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # the mige adapter's class and its pure-Python text rules, no torch and no model code
    assert out.stdout.strip() == "['mige_model', 'mige_model.adapter', 'mige_model.text']"


def test_list_describes_every_model_and_benchmark():
    from mige_eval.registry import ADAPTERS

    result = invoke("list")
    assert result.exit_code == 0
    text = result.stdout
    for name in ADAPTERS.builtins:
        cls = ADAPTERS.load(name)
        assert cls.description and cls.license, name
        assert f"  {name}" in text and cls.description in text
    assert "tasks: subject_add, subject_replace; licence: CreativeML OpenRAIL-M (model card)" in text
    assert "Subject-driven generation: 30 subjects x 25 prompts" in text and "(MIGE paper, Table 2)" in text
    assert "tasks: subject; licence: CC BY 4.0" in text
    assert "cannot be loaded" not in text


def test_old_option_spellings_still_work_hidden_with_a_deprecation_note(tmp_path, dreambench_root, monkeypatch):
    out = tmp_path / "runs" / "copy-source"
    assert (
        invoke(
            "run",
            "--bench",
            "dreambench",
            "--model",
            "copy-source",
            "--data",
            str(dreambench_root),
            "--metrics",
            "none",
            "--limit",
            "1",
            "--out",
            str(out),
            "--quiet",
        ).exit_code
        == 0
    )
    new = invoke("report", str(out), "--out", str(tmp_path / "new.md"))
    old = invoke("report", str(out), "--output", str(tmp_path / "old.md"))
    assert new.exit_code == old.exit_code == 0 and "deprecated" not in new.output
    assert "warning: --output is deprecated and will be removed in the next release; use --out" in old.stderr
    assert (tmp_path / "old.md").read_text() == (tmp_path / "new.md").read_text()
    both = invoke("report", str(out), "--out", "a.md", "--output", "b.md")
    assert both.exit_code == 2 and "--output is the old spelling of --out: give --out alone" in flat(both.output)
    assert "--output" not in invoke("report", "-h").output

    from mige_eval.metrics import backbones

    fetched = []
    monkeypatch.setattr(backbones, "download_backbones", lambda ids: fetched.append(list(ids)) or [])
    assert invoke("download", "--backbones", "--backbone", "org/a@v1").exit_code == 0
    old = invoke("download", "--backbones", "--model", "org/b")
    assert old.exit_code == 0 and "--model is deprecated" in old.stderr and "use --backbone" in old.stderr
    assert fetched == [["org/a@v1"], ["org/b"]]
    help_text = invoke("download", "-h").output
    assert "--backbone " in help_text and "--model" not in help_text and "--to" not in help_text

    from mige_eval.benchmarks import open as bench_open

    targets = []
    monkeypatch.setattr(
        bench_open,
        "open_benchmark",
        lambda name: type("B", (), {"download": lambda self, to: targets.append(to) or to})(),
    )
    assert invoke("download", "--bench", "dreambench", "--out", str(tmp_path / "d1")).exit_code == 0
    assert "--to is deprecated" in invoke("download", "--bench", "dreambench", "--to", str(tmp_path / "d2")).stderr
    assert targets == [tmp_path / "d1", tmp_path / "d2"]


def test_reproduce_takes_out_and_its_old_spelling(tmp_path):
    new = invoke(
        "reproduce",
        "--table",
        "2",
        "--models",
        "copy-source",
        "--data-root",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "new"),
        "--quiet",
    )
    old = invoke(
        "reproduce",
        "--table",
        "2",
        "--models",
        "copy-source",
        "--data-root",
        str(tmp_path / "none"),
        "--results",
        str(tmp_path / "old"),
        "--quiet",
    )
    assert new.exit_code == old.exit_code == 1
    assert (tmp_path / "new" / "reports" / "table-2" / "table.md").is_file()
    assert (tmp_path / "old" / "reports" / "table-2" / "table.md").is_file()
    assert "--results is deprecated" in old.stderr and "deprecated" not in new.stderr


def test_reproduce_says_each_error_once_and_names_data_root(tmp_path):
    result = invoke(
        "reproduce", "--table", "1", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "r"), "--quiet"
    )
    assert result.exit_code == 1
    text = flat(result.output)
    for bench in ("emuedit", "magicbrush"):
        assert text.count(f"dataset folder {tmp_path / 'data' / bench} does not exist") == 1
        assert f"pass --data-root DIR (DIR/{bench}) pointing at a copy" in text
    assert "--data " not in text
    assert "so not run for magicbrush, ultraedit, omnigen, mige either: same data" in text


MARKUP = ["[bold]x[/bold]", "a[/]b", "[red"]


def test_messages_print_paths_as_they_are_never_as_markup(tmp_path):
    for part in MARKUP:
        absent = tmp_path / part / "absent"
        result = invoke(
            "run", "--bench", "dreambench", "--model", "copy-source", "--data", str(absent), "--metrics", "none"
        )
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert f"dreambench: dataset folder {absent} does not exist" in result.output.replace("\n", "")
        report = invoke("report", str(absent))
        assert report.exit_code == 2 and f"error: {absent} does not exist" in report.output.replace("\n", "")


def test_report_refuses_a_folder_without_runs(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    result = invoke("report", str(tmp_path / "empty"))
    assert result.exit_code == 2
    text = flat(result.output)
    assert (
        f"no run directory in {tmp_path / 'empty'}: looked for folders holding run.json, summary.json or records/"
        in text
    )
