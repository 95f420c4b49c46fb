"""The built wheel installs on its own and claims no generic top-level import names."""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_in_fresh_venv_and_maps_folders_under_mige_eval(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "-w", str(dist), str(REPO)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("mige_eval-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names}
    assert "benchmarks" not in top_level and "baselines" not in top_level
    assert {"mige_eval", "mige_model"} <= top_level
    assert "mige_eval/benchmarks/cards/dreambench.yaml" in names
    assert "mige_eval/baselines/__init__.py" in names
    assert {f"mige_eval/metrics/judge_prompts/{p}.txt" for p in ("vie_sc", "vie_pq", "dbp_cp", "dbp_pf")} <= set(names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    listing = subprocess.run([str(env_dir / "bin" / "mige-eval"), "list"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "dreambench" in listing.stdout and "copy-source" in listing.stdout
    probe = ("import importlib.util as u; import mige_eval.benchmarks.dreambench, mige_eval.baselines; "
             "print(u.find_spec('benchmarks'), u.find_spec('baselines'))")
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None None"
