"""Lazy registries of adapters and benchmarks.

A name resolves, in order, to: a built-in entry (``"module:Object"``, imported only when asked for),
an installed package's entry point (groups ``mige_eval.adapters`` / ``mige_eval.benchmarks``), or a
spec given on the command line: ``path/to/file.py:Class`` or ``package.module:Class`` (and, for
benchmarks, a card file ``path/to/card.yaml``). Listing names imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from mige_eval.names import did_you_mean


class UnknownNameError(LookupError):
    """A name that no registry entry, entry point or spec matches; the message lists the known names."""


@dataclass(frozen=True)
class Registry:
    kind: str  # "model" or "benchmark": used in messages
    group: str  # entry-point group
    builtins: dict[str, str]

    def names(self) -> list[str]:
        """Built-in and installed names, sorted; imports nothing."""
        return sorted(set(self.builtins) | {ep.name for ep in entry_points(group=self.group)})

    def target(self, name: str) -> str:
        """The ``module:Object`` (or file) a name stands for, without importing it."""
        if name in self.builtins:
            return self.builtins[name]
        for ep in entry_points(group=self.group):
            if ep.name == name:
                return ep.value
        if ":" in name or name.endswith((".yaml", ".yml")):
            return name
        raise UnknownNameError(self._unknown(name))

    def load(self, name: str) -> Any:
        """Import and return the object a name stands for."""
        return import_spec(self.target(name), what=f"{self.kind} {name!r}")

    def _unknown(self, name: str) -> str:
        known = self.names()
        return (
            f"unknown {self.kind} {name!r}.{did_you_mean(name, known)} Known {self.kind}s: {', '.join(known)}. "
            f"A {self.kind} of your own: 'path/to/file.py:ClassName', 'package.module:ClassName', "
            f"or an entry point in the group {self.group!r}."
        )


def import_spec(spec: str, *, what: str) -> Any:
    """Import ``module:attr`` or ``path/to/file.py:attr``; errors name the spec and what was wanted."""
    module_part, sep, attr = spec.rpartition(":")
    if not sep or not module_part or not attr:
        raise UnknownNameError(f"{what}: {spec!r} is not of the form 'module:Name' or 'file.py:Name'")
    if module_part.endswith(".py"):
        module = _import_file(Path(module_part), what)
    else:
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            if exc.name and module_part.startswith(exc.name):
                raise UnknownNameError(f"{what}: cannot import module {module_part!r} ({exc})") from exc
            raise
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UnknownNameError(f"{what}: module {module_part!r} has no attribute {attr!r}") from None


def _import_file(path: Path, what: str) -> Any:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise UnknownNameError(f"{what}: file {path} does not exist")
    name = "mige_eval_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


ADAPTERS = Registry(
    kind="model",
    group="mige_eval.adapters",
    builtins={
        "copy-source": "mige_eval.adapters.copy_source:CopySource",
        "folder": "mige_eval.adapters.folder:Folder",
        "instructpix2pix": "mige_eval.baselines.instructpix2pix:InstructPix2Pix",
        "magicbrush": "mige_eval.baselines.magicbrush:MagicBrush",
        "omnigen": "mige_eval.baselines.omnigen:OmniGen",
        "paint-by-example": "mige_eval.baselines.paint_by_example:PaintByExample",
        "blip-diffusion": "mige_eval.baselines.blip_diffusion:BlipDiffusion",
        "flux-kontext": "mige_eval.baselines.flux_kontext:FluxKontext",
        "qwen-image-edit": "mige_eval.baselines.qwen_image_edit:QwenImageEdit",
        "qwen-image-edit-plus": "mige_eval.baselines.qwen_image_edit_plus:QwenImageEditPlus",
        "flux2": "mige_eval.baselines.flux2:Flux2",
        "flux2-klein": "mige_eval.baselines.flux2:Flux2Klein",
        "longcat-image-edit": "mige_eval.baselines.longcat_image_edit:LongCatImageEdit",
        "ultraedit": "mige_eval.baselines.ultraedit:UltraEdit",
        "mige": "mige_model.adapter:MIGEAdapter",
    },
)

BENCHMARKS = Registry(
    kind="benchmark",
    group="mige_eval.benchmarks",
    builtins={
        "dreambench": "mige_eval.benchmarks.dreambench:DreamBench",
        "emuedit": "mige_eval.benchmarks.emuedit:EmuEdit",
        "magicbrush": "mige_eval.benchmarks.magicbrush:MagicBrushBench",
        "migebench": "mige_eval.benchmarks.migebench:MIGEBench",
    },
)
