"""The built wheel installs on its own and claims no generic top-level import names.

Built and installed offline (tests/offline_build.py): from a copy of the sources, with no package index.
"""

from __future__ import annotations

import email
import site
import subprocess
import venv
import zipfile
from pathlib import Path

from offline_build import copy_sources, pip

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_in_fresh_venv_and_maps_folders_under_mige_eval(tmp_path):
    dist = tmp_path / "dist"
    build = pip("wheel", "-w", str(dist), str(copy_sources(REPO, tmp_path / "src")))
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("mige_eval-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    top_level = {n.split("/")[0] for n in names}
    assert "benchmarks" not in top_level and "baselines" not in top_level
    assert {"mige_eval", "mige_model"} <= top_level
    assert "mige_eval/benchmarks/cards/dreambench.yaml" in names
    assert "mige_eval/baselines/__init__.py" in names
    metadata = email.message_from_bytes(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    required = {
        r.split(";")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for r in metadata.get_all("Requires-Dist")
        if "extra ==" not in r
    }
    assert required == {"numpy", "pillow", "pyyaml", "rich", "typer", "platformdirs"}
    assert {f"mige_eval/metrics/judge_prompts/{p}.txt" for p in ("vie_sc", "vie_pq", "dbp_cp", "dbp_pf")} <= set(names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = pip("install", str(wheel), python=str(py))
    assert install.returncode == 0, install.stderr
    # No index to fetch the dependencies from: the venv sees those of the environment running the tests
    # (a path, not a site directory, so that environment's own editable mige-eval is not activated).
    paths = subprocess.run(
        [str(py), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(paths, "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    listing = subprocess.run([str(env_dir / "bin" / "mige-eval"), "list"], capture_output=True, text=True, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "dreambench" in listing.stdout and "copy-source" in listing.stdout
    probe = (
        "import importlib.util as u, mige_eval; import mige_eval.benchmarks.dreambench, mige_eval.baselines; "
        "print(u.find_spec('benchmarks'), u.find_spec('baselines'), mige_eval.__file__)"
    )
    out = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    found_benchmarks, found_baselines, location = out.stdout.split()
    assert (found_benchmarks, found_baselines) == ("None", "None")
    assert Path(location).is_relative_to(env_dir)  # the wheel's copy, not this checkout's
