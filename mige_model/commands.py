"""MIGE's command-line commands, registered lazily in :data:`mige_eval.cli.EXTRA_COMMANDS`.

``mige-eval`` imports this module only when one of its commands runs, so ``--help`` and ``list`` never
import MIGE (or torch); the heavy imports sit inside each command.
"""

from __future__ import annotations

from pathlib import Path

import typer


def convert_mige(
    src: str = typer.Argument(..., help="MIGE weights: hub id (e.g. EurekaTian/MIGE) or local folder, either layout."),
    dst: Path = typer.Argument(..., help="New (or empty) folder for the converted safetensors layout."),
    revision: str | None = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit) of SRC."),
) -> None:
    """Check MIGE's weights strictly and write them as safetensors (no pickle at load time)."""
    from mige_eval.cli import user_errors

    with user_errors():
        from mige_model.checkpoint import convert
        from mige_model.layout import read_json

        out = convert(src, dst, revision=revision)
        record = read_json(out / "conversion.json")
        print(f"converted {src} ({record['source']['layout']} layout) → {out}")
        for part, files in record["parts"].items():
            print(f"  {part}: {', '.join(files)}")
        if record["ignored"]:
            print(f"  ignored {len(record['ignored'])} known-unused key(s), e.g. {record['ignored'][0]}")
