"""Loading MIGE's weights strictly, from the authors' release or our converted folder, and converting.

The authors build their module without weights and load ``model.pth`` with ``strict=False``, printing
what did not match; a renamed or missing key would silently leave random weights. Here every parameter
and persistent buffer of :class:`~mige_model.model.MIGEModule` and of the T5 encoder must be filled with
the right shape, every key of ``model.pth`` must be used or *known* to be unused, and anything else stops
the load with a :class:`CheckpointError` that names the keys.

Released key → destination (docs/mige_model.md): ``t5_model.X`` → T5 ``X`` (``decoder.*`` and
``lm_head.*`` known-unused); DiT keys → ``dit.`` + key; everything else unchanged. Parameters that
``model.pth`` lacks may come from the pretrained component files the release ships (EVA ViT-g, the BLIP-2
checkpoint, T5 weights), as the authors' training built them; ``Components.source`` records which file
filled which part.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mige_eval.hub import load_pretrained
from mige_model import layout, qformer, vision
from mige_model.config import CONFIG_NAME, MIGEConfig
from mige_model.model import T5_PREFIX, MIGEModule, module_name, released_name

#: The authors' Hugging Face repository.
DEFAULT_MODEL_ID = layout.DEFAULT_MODEL_ID
#: Known-unused keys of ``model.pth``, as released names.
IGNORED_KEYS = frozenset(
    [f"Qformer.{k}" for k in qformer.UNUSED_KEYS] + [f"visual_encoder.{k}" for k in vision.UNUSED_KEYS]
)
#: Parts of a full ``T5ForConditionalGeneration`` that the encoder does not use.
T5_UNUSED_PREFIXES = ("decoder.", "lm_head.")
#: T5 ties its encoder input embedding to ``shared``: either key fills both.
T5_TIED = ("shared.weight", "encoder.embed_tokens.weight")
REPORT_LIMIT = 20


class CheckpointError(ValueError):
    """Weights that do not fit the module; the message lists missing, unexpected and mis-shaped keys."""


@dataclass
class Components:
    """Everything MIGE inference needs, in float32 on the CPU, in eval mode."""

    config: MIGEConfig
    module: MIGEModule
    text_encoder: Any  # transformers.T5EncoderModel
    tokenizer: Any  # the T5 tokenizer
    vae: Any  # diffusers.AutoencoderKL
    source: dict = field(default_factory=dict)


@dataclass
class _Filling:
    """Tensors gathered under full names (the module's keys; T5's with ``t5_model.``) and their origins."""

    expected: dict[str, tuple]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    parts: dict[str, set[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_shape: dict[str, str] = field(default_factory=dict)

    def wants(self, name: str) -> bool:
        return name in self.expected and name not in self.tensors

    def put(self, name: str, tensor: torch.Tensor, origin: str) -> None:
        """Keep ``tensor`` as ``name`` if its shape fits; the part (``dit``, ``t5_model``, …) records ``origin``."""
        if tuple(tensor.shape) != self.expected[name]:
            self.wrong_shape[name] = f"{origin} has {tuple(tensor.shape)}, the module expects {self.expected[name]}"
            return
        self.tensors[name] = tensor
        self.parts.setdefault(name.split(".", 1)[0], set()).add(origin)

    def split(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(MIGEModule state, T5 state)."""
        t5 = {k.removeprefix(T5_PREFIX): v for k, v in self.tensors.items() if k.startswith(T5_PREFIX)}
        return {k: v for k, v in self.tensors.items() if not k.startswith(T5_PREFIX)}, t5


def _shapes(model: torch.nn.Module, prefix: str = "") -> dict[str, tuple]:
    return {prefix + k: tuple(v.shape) for k, v in model.state_dict().items()}


def _route_released(state: dict[str, torch.Tensor], fill: _Filling) -> None:
    """Send every ``model.pth`` key to the module or T5, to the ignored list or to the unexpected list."""
    for key, tensor in state.items():
        name = key if key.startswith(T5_PREFIX) else module_name(key)
        if name in fill.expected:
            fill.put(name, tensor, layout.RELEASED_WEIGHTS)
        elif key in IGNORED_KEYS or key.startswith(tuple(T5_PREFIX + p for p in T5_UNUSED_PREFIXES)):
            fill.ignored.append(key)
        else:
            fill.unexpected.append(key)


def _fallbacks(root: Path) -> Iterable[tuple[Path, Callable[[str], str]]]:
    """Pretrained component files and how each file's keys map to full names."""
    for path in layout.component_files(root, layout.EVA_NAME):
        yield path, lambda key: key if key.startswith("visual_encoder.") else "visual_encoder." + key
    for path in layout.component_files(root, layout.BLIP2_NAME):
        yield path, module_name
    for path in layout.t5_weight_files(root / layout.T5_FOLDER):
        yield path, lambda key: T5_PREFIX + key


def _fill_from_components(root: Path, fill: _Filling) -> None:
    """Fill what ``model.pth`` left empty from the pretrained component files; their other keys are not ours."""
    for path, full_name in _fallbacks(root):
        origin = path.relative_to(root).as_posix()
        for key, tensor in layout.read_weights(path, lambda key, name=full_name: fill.wants(name(key))).items():
            fill.put(full_name(key), tensor, origin)


def _tie_t5(fill: _Filling) -> None:
    """``shared.weight`` and ``encoder.embed_tokens.weight`` are one matrix: either fills both."""
    shared, embed = (T5_PREFIX + k for k in T5_TIED)
    if shared in fill.tensors and embed in fill.tensors:
        if not torch.equal(fill.tensors[shared], fill.tensors[embed]):
            fill.wrong_shape[embed] = f"differs from {shared}, which it is tied to"
    elif shared in fill.tensors or embed in fill.tensors:
        fill.tensors[shared] = fill.tensors[embed] = fill.tensors.get(shared, fill.tensors.get(embed))


def _listing(heading: str, names: list[str]) -> list[str]:
    if not names:
        return []
    shown = [f"  {n}" for n in sorted(names)[:REPORT_LIMIT]]
    more = [f"  … and {len(names) - REPORT_LIMIT} more"] if len(names) > REPORT_LIMIT else []
    return [f"{heading} ({len(names)}):", *shown, *more]


def _check(
    fill: _Filling, *, what: str, hint: str, shown: Callable[[str], str] = released_name, missing_hint: str = ""
) -> None:
    """Raise :class:`CheckpointError` listing what is missing, unexpected or mis-shaped; names as ``shown``
    gives them (the released names by default)."""
    missing = [shown(k) for k in fill.expected if k not in fill.tensors and k not in fill.wrong_shape]
    if not (missing or fill.unexpected or fill.wrong_shape):
        return
    lines = [f"{what} does not fit the MIGE module:"]
    lines += _listing("missing (nothing filled these parameters)", missing)
    lines += _listing("unexpected (keys that no part of MIGE uses)", fill.unexpected)
    lines += _listing("wrong shape", [f"{shown(name)}: {problem}" for name, problem in fill.wrong_shape.items()])
    lines += _listing("ignored (known-unused, not an error)", fill.ignored)
    raise CheckpointError("\n".join([*lines, f"hint: {hint}" + (f" {missing_hint}" if missing else "")]))


def _assign(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load into a meta-device model without copying: floating tensors become float32 (no-op if they are)."""
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, strict=True, assign=True
    )
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"{type(model).__name__}: {', '.join(left)} were not filled by the state dict")
    model.eval()


def _load_released(root: Path, config: MIGEConfig) -> tuple[MIGEModule, Any, Any, Any, dict]:
    from transformers import T5Config, T5EncoderModel

    t5_folder = layout.require_folder(root, layout.T5_FOLDER, holds="the T5 config and tokenizer")
    vae_folder = layout.require_folder(root, layout.VAE_FOLDER, holds="the diffusers AutoencoderKL")
    layout.check_tokenizer_readable(t5_folder)
    t5_config = load_pretrained(T5Config, str(t5_folder), what="MIGE's T5 config")
    if t5_config.d_model != config.t5_dim:
        raise CheckpointError(
            f"{t5_folder / 'config.json'} has d_model {t5_config.d_model} but the MIGE module's "
            f"t5_dim is {config.t5_dim} (from {layout.config_origin(root)}): they must agree; is "
            f"{layout.T5_FOLDER}/ the T5 this model was trained with?"
        )
    with torch.device("meta"):
        module, text_encoder = MIGEModule(config), T5EncoderModel(t5_config)
    fill = _Filling(expected=_shapes(module) | _shapes(text_encoder, T5_PREFIX))
    _route_released(layout.released_state_dict(root / layout.RELEASED_WEIGHTS), fill)
    _fill_from_components(root, fill)
    _tie_t5(fill)
    absent = [f"{n}/" for n in (layout.EVA_NAME, layout.BLIP2_NAME) if not layout.component_files(root, n)]
    absent += [] if layout.t5_weight_files(t5_folder) else [f"T5 weights in {layout.T5_FOLDER}/"]
    _check(
        fill,
        what=str(root / layout.RELEASED_WEIGHTS),
        hint=(
            f"is this MIGE's {layout.RELEASED_WEIGHTS}? The module's sizes come from {layout.config_origin(root)}; a "
            "different mige_config.json changes every shape."
        ),
        missing_hint=(
            f"Frozen parts missing from {layout.RELEASED_WEIGHTS} can come from the authors' component checkpoints, "
            f"not found here: {', '.join(absent)}"
            if absent
            else ""
        ),
    )
    module_state, t5_state = fill.split()
    _assign(module, module_state)
    _assign(text_encoder, t5_state)
    text_encoder.tie_weights()
    tokenizer = layout.load_tokenizer(t5_folder)
    vae = layout.load_vae(vae_folder, safetensors_only=False)
    weights = [root / f for files in fill.parts.values() for f in files]
    source = {
        "parts": {p: sorted(f) for p, f in sorted(fill.parts.items())},
        "ignored": sorted(fill.ignored),
        "files": layout.files_under(root, *weights, t5_folder, vae_folder, root / CONFIG_NAME),
    }
    return module, text_encoder, tokenizer, vae, source


def _load_converted(root: Path, config: MIGEConfig) -> tuple[MIGEModule, Any, Any, Any, dict]:
    from safetensors.torch import load_file
    from transformers import T5EncoderModel

    with torch.device("meta"):
        module = MIGEModule(config)
    fill = _Filling(expected=_shapes(module))
    for name, tensor in load_file(root / layout.CONVERTED_WEIGHTS).items():
        if name in fill.expected:
            fill.put(name, tensor, layout.CONVERTED_WEIGHTS)
        else:
            fill.unexpected.append(name)
    _check(
        fill,
        what=str(root / layout.CONVERTED_WEIGHTS),
        shown=str,
        hint=(
            f"{layout.CONVERTED_WEIGHTS} and {layout.config_origin(root)} do not belong together; convert again with "
            "`mige-eval convert-mige SRC DST`"
        ),
    )
    _assign(module, fill.tensors)
    folder = root / layout.TEXT_ENCODER_FOLDER
    text_encoder, info = load_pretrained(
        T5EncoderModel,
        str(folder),
        what="MIGE's T5 encoder",
        use_safetensors=True,
        dtype=torch.float32,
        output_loading_info=True,
    )
    problems = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if problems:
        raise CheckpointError(
            f"{folder} does not fit its own config.json ({problems}); convert again with "
            "`mige-eval convert-mige SRC DST`"
        )
    tokenizer = layout.load_tokenizer(folder)
    vae = layout.load_vae(root / layout.CONVERTED_VAE_FOLDER, safetensors_only=True)
    record = root / layout.CONVERSION_RECORD
    source = {
        "parts": {
            "module": [layout.CONVERTED_WEIGHTS],
            "t5_model": [f"{layout.TEXT_ENCODER_FOLDER}/"],
            "vae": [f"{layout.CONVERTED_VAE_FOLDER}/"],
        },
        "converted_from": layout.read_json(record).get("source") if record.is_file() else None,
        "files": layout.files_under(
            root, root / layout.CONVERTED_WEIGHTS, root / CONFIG_NAME, folder, root / layout.CONVERTED_VAE_FOLDER
        ),
    }
    return module, text_encoder.eval(), tokenizer, vae, source


def load_components(model_id: str | os.PathLike, *, revision: str | None = None) -> Components:
    """MIGE's module, T5 encoder, tokenizer and VAE from a local folder or a hub id, checked strictly.

    ``model_id``: a folder in either layout (see :mod:`mige_model.layout`) or a hub id such as
    ``EurekaTian/MIGE`` (fetched through the Hugging Face cache; ``revision`` pins a hub commit).
    """
    root, commit = layout.locate(model_id, revision=revision)
    kind = layout.detect_layout(root)
    config = MIGEConfig.load(root)
    loader = _load_converted if kind == "converted" else _load_released
    module, text_encoder, tokenizer, vae, details = loader(root, config)
    source = {
        "model_id": str(model_id),
        "revision": revision,
        "commit": commit,
        "layout": kind,
        "path": str(root),
        **details,
    }
    return Components(
        config=config, module=module, text_encoder=text_encoder, tokenizer=tokenizer, vae=vae, source=source
    )


def convert(src: str | os.PathLike, dst: os.PathLike, *, revision: str | None = None) -> Path:
    """Write ``src`` (hub id or folder, either layout) as a converted folder ``dst``; returns ``dst``.

    ``dst`` must not exist or be empty. The files are written to a temporary sibling first and moved into
    place at the end, so an interrupted conversion never leaves a folder that looks complete.
    """
    from safetensors.torch import save_file

    from mige_eval import __version__

    dst = Path(dst).expanduser()
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ValueError(
            f"{dst} already exists and is not an empty folder: choose a new destination for the "
            "converted MIGE weights (or delete it first)"
        )
    parts = load_components(src, revision=revision)
    dst.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        parts.config.save(work)
        save_file(
            {k: v.contiguous() for k, v in parts.module.state_dict().items()},
            work / layout.CONVERTED_WEIGHTS,
            metadata={"format": "pt"},
        )
        parts.text_encoder.save_pretrained(work / layout.TEXT_ENCODER_FOLDER)
        parts.tokenizer.save_pretrained(work / layout.TEXT_ENCODER_FOLDER)
        parts.vae.save_pretrained(work / layout.CONVERTED_VAE_FOLDER, safe_serialization=True)
        root = Path(parts.source["path"])
        files = [layout.file_record(root / f, root) for f in parts.source.get("files", [])]
        origin = {k: parts.source[k] for k in ("model_id", "revision", "commit", "layout")}
        record = {
            "source": origin | {"files": files},
            "parts": parts.source["parts"],
            "ignored": parts.source.get("ignored", []),
            "mige_eval_version": __version__,
        }
        (work / layout.CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if dst.exists():
            dst.rmdir()
        os.replace(work, dst)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dst
