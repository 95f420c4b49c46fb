"""A metric's model checkpoint: where its files are, what identifies them, and loading them on one device.

The CLIP and DINO backbones (:mod:`mige_eval.metrics.backbones`) and the GroundingDINO and SAM models of
the subject crops (:mod:`mige_eval.metrics.grounding`) are all :class:`Checkpoint` subclasses. A
checkpoint is a :class:`~mige_eval.metrics.base.ScoringContext` service: built once per run, and
:meth:`Checkpoint.prepare` resolves the device, the precision and the files and checks the checkpoint's
kind from its config before any sample is scored; weights load on the first forward pass, so a run
whose features are all cached never loads them.

A model is a hub id (optionally ``id@revision``) or a local directory. Hub ids resolve through the
Hugging Face cache (:func:`mige_eval.hub.snapshot`: cache only when the hub is off or unreachable); the
resolved commit, or for a local directory a digest of its config and weights, is the ``revision`` that
keys cached features.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

from mige_eval.errors import MissingWeightsError
from mige_eval.hub import is_local, load_pretrained, snapshot
from mige_eval.runtime import require, resolve_device, resolve_dtype

#: Hub files a checkpoint needs: config, tokenizer or processor, chat template, safetensors weights
#: (``pytorch_model.bin`` only as a fallback).
HUB_FILES = ["*.json", "*.txt", "*.jinja", "*.safetensors"]
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class BackboneError(ValueError):
    """A checkpoint that cannot serve the metric asking for it (wrong kind, wrong input size)."""


def split_revision(model: str) -> tuple[str, str | None]:
    """``org/name@rev`` → (``org/name``, ``rev``); a local directory never carries a revision."""
    if not is_local(model) and "@" in model:
        name, _, rev = model.partition("@")
        return name, rev or None
    return model, None


def weights_digest(folder: Path) -> str:
    """sha256 over ``config.json`` and the weight files of a local model directory (names and bytes)."""
    h = hashlib.sha256()
    files = [folder / "config.json"] + sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    for path in files:
        if path.is_file():
            h.update(path.name.encode() + b"\0")
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
    return h.hexdigest()


def fetch(model_id: str, revision: str | None = None, *, what: str = "model", fetch_with: str = "") -> Path:
    """A hub model's snapshot folder in the Hugging Face cache, downloading what is missing while the hub is
    reachable: safetensors weights, else ``pytorch_model.bin``."""
    folder = snapshot(model_id, revision=revision, allow_patterns=HUB_FILES, what=what, fetch_with=fetch_with)
    if not any(folder.glob("*.safetensors")):
        folder = snapshot(
            model_id, revision=revision, allow_patterns=["pytorch_model.bin"], what=what, fetch_with=fetch_with
        )
    return folder


class Checkpoint:
    """A hub id (``id@revision``) or local folder, resolved on one device and precision; weights load on use.

    Subclasses say what they are (:attr:`role`, the ``--<role>-model`` option), which ``config.json``
    model types they accept, who needs them and how their defaults are fetched.
    """

    #: ``clip``, ``dino``, ``detector`` or ``sam``: names the ``--<role>-model`` option in messages.
    role: str
    #: ``config.json`` model types the checkpoint may have, and an id of one that fits.
    model_types: tuple[str, ...]
    example: str
    #: Who needs the checkpoint, for messages: "the dino metrics", "subject crops".
    needed_by: str
    #: The command that fetches the default checkpoints.
    download_command: ClassVar[str] = "mige-eval download --backbones"
    #: What a local folder must hold besides config and weights (for the "no config.json" error).
    companions: ClassVar[str] = "tokenizer"
    #: What else a user whose checkpoint is of the wrong kind can do (ends that error message).
    otherwise: ClassVar[str] = ""

    def __init__(self, model: str, device: str = "auto", precision: str = "fp32"):
        self.model_id, self.requested_revision = split_revision(model)
        self.requested_device, self.precision = device, precision
        self.device: str | None = None
        self.dtype: Any = None
        self.config: Any = None
        self.revision: str | None = None
        self.folder: Path | None = None
        self._model: Any = None

    @property
    def what(self) -> str:
        return f"--{self.role}-model {self.model_id}"

    def prepare(self) -> Checkpoint:
        """Resolve device, precision and files, and check the checkpoint's kind, without loading weights."""
        if self.config is not None:
            return self
        self.device = resolve_device(self.requested_device)
        try:
            self.dtype = resolve_dtype(self.precision, self.device)
        except ValueError:
            if self.precision not in ("fp16", "bf16"):
                raise
            raise ValueError(
                f"preset {self.precision} runs the {self.role} model in half precision, which needs a "
                f"CUDA device (--device cuda); on {self.device} keep the default fp32"
            ) from None
        if is_local(self.model_id):
            self.folder = Path(self.model_id).expanduser()
            if not self.folder.is_dir():
                raise MissingWeightsError(f"{self.what}: local model directory {self.folder} does not exist")
        else:
            self.folder = fetch(
                self.model_id, self.requested_revision, what=f"{self.what}: model", fetch_with=self.fetch_hint()
            )
        config = self._load("AutoConfig")
        if config.model_type not in self.model_types:
            raise BackboneError(
                f"{self.what} is a {config.model_type!r} checkpoint, but {self.needed_by} need a "
                f"{' or '.join(self.model_types)} model such as {self.example}{self.otherwise}"
            )
        self.check(config)
        self.revision = (
            self.folder.name if self.folder.parent.name == "snapshots" else ("sha256:" + weights_digest(self.folder))
        )
        self.config = config
        return self

    def fetch_hint(self) -> str:
        """The commands that fetch this checkpoint, for the missing-weights message."""
        return f"`{self.download_command}` (the defaults) or `hf download {self.model_id}`"

    def check(self, config: Any) -> None:
        """Refuse a config of the right kind that still cannot serve (a subclass's extra checks)."""

    @property
    def fingerprint(self) -> str:
        """What identifies this checkpoint's outputs: hub id and commit, or a local folder's digest; precision."""
        self.prepare()
        return f"{'local' if is_local(self.model_id) else self.model_id}@{self.revision}|{self.precision}"

    def describe(self) -> dict[str, Any]:
        """What ``run.json`` records of the checkpoint a run used."""
        return {"id": self.model_id, "revision": self.revision, "precision": self.precision, "device": self.device}

    def _load(self, loader: str, **kwargs: Any) -> Any:
        """``transformers.<loader>.from_pretrained`` on the folder; any failure names the folder and stops the run."""
        transformers = require("transformers", extra="metrics", purpose=f"loading {self.what}")
        if not (self.folder / "config.json").is_file():
            raise MissingWeightsError(
                f"{self.what}: {self.folder} has no config.json; pass a folder saved with "
                f"save_pretrained (config, weights, {self.companions}) or a hub id"
            )
        try:
            return load_pretrained(getattr(transformers, loader), str(self.folder), what=self.what, **kwargs)
        except MissingWeightsError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint is the same error for every sample
            raise MissingWeightsError(
                f"{self.what}: cannot load {self.folder} ({type(exc).__name__}: {exc}); "
                "re-download it or pass another model"
            ) from exc
