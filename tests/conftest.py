"""Shared fixtures: where the real DreamBench lives, and skipping what needs it when it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from require_all import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401 - pytest hooks

REPO = Path(__file__).resolve().parents[1]
#: The project's read-only shared folder (real DreamBench, published tables). A user's clone has
#: none; point MIGE_EVAL_SHARED at a copy, or the tests that need it are skipped.
SHARED = Path(os.environ.get("MIGE_EVAL_SHARED", REPO.parent / "shared")).resolve()
DREAMBENCH = SHARED / "data" / "dreambench"


@pytest.fixture(autouse=True)
def _hub_offline_switch_left_as_found():
    """mige_eval.hub turns huggingface_hub's process-wide offline switch on when it finds the hub unreachable;
    one test doing so must not change what the next one sees."""
    constants = sys.modules.get("huggingface_hub.constants")
    before = constants.HF_HUB_OFFLINE if constants is not None else None
    yield
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        from_environment = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").upper()
        constants.HF_HUB_OFFLINE = before if before is not None else from_environment in ("1", "ON", "YES", "TRUE")


@pytest.fixture(scope="session")
def dreambench_root() -> Path:
    if not (DREAMBENCH / "prompts_and_classes.txt").is_file():
        pytest.skip(
            f"needs the real DreamBench dataset at {DREAMBENCH} "
            "(set MIGE_EVAL_SHARED to the folder holding data/dreambench)"
        )
    return DREAMBENCH


@pytest.fixture(scope="session")
def dreambench_photos(dreambench_root) -> list[Path]:
    """A few real photos of different subjects, sizes and content."""
    return [dreambench_root / s / "00.jpg" for s in ("dog", "cat", "backpack", "teapot", "red_cartoon")]


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    """A tiny random CLIP checkpoint folder (see tests/tiny_models.py)."""
    from tiny_models import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_dino(tmp_path_factory) -> Path:
    """A tiny random DINO (ViT) checkpoint folder (see tests/tiny_models.py)."""
    from tiny_models import save_tiny_dino

    return save_tiny_dino(tmp_path_factory.mktemp("tiny-dino"))


@pytest.fixture(scope="session")
def independent(tiny_clip, tiny_dino):
    """Features recomputed from the published definitions (tests/reference_features.py)."""
    from reference_features import Independent

    return Independent(tiny_clip, tiny_dino)


@pytest.fixture(scope="session")
def kit():
    """Small builders the metric tests share (test modules cannot import conftest)."""
    import reference_features as ref

    return SimpleNamespace(
        ref_of=ref.ref_of, sample=ref.sample, rgb=ref.rgb, cos=ref.cos, similarities=ref.similarities
    )


@pytest.fixture()
def small_dreambench(tmp_path, dreambench_root) -> Path:
    """A writable DreamBench copy: the prompt file and three subjects (photos symlinked)."""
    root = tmp_path / "dreambench"
    root.mkdir()
    lines = (dreambench_root / "prompts_and_classes.txt").read_text().splitlines()
    keep = {"backpack", "dog", "cat"}
    out = [
        ln
        for ln in lines
        if "," not in ln or ln.split(",")[0] not in {s.name for s in dreambench_root.iterdir() if s.is_dir()} - keep
    ]
    (root / "prompts_and_classes.txt").write_text("\n".join(out) + "\n")
    for subject in keep:
        (root / subject).mkdir()
        for photo in (dreambench_root / subject).iterdir():
            (root / subject / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="session")
def tiny_gdino(tmp_path_factory) -> Path:
    """A tiny random GroundingDINO checkpoint folder (see tests/tiny_grounding.py)."""
    from tiny_grounding import save_tiny_grounding_dino

    return save_tiny_grounding_dino(tmp_path_factory.mktemp("tiny-gdino"))


@pytest.fixture(scope="session")
def tiny_sam(tmp_path_factory) -> Path:
    """A tiny random SAM checkpoint folder (see tests/tiny_grounding.py)."""
    from tiny_grounding import save_tiny_sam

    return save_tiny_sam(tmp_path_factory.mktemp("tiny-sam"))
