"""What every diffusers baseline shares: options, lazy pipeline loading, and one seeded call per request.

Each baseline module declares its pipeline class, published defaults and how a :class:`Request` becomes
the pipeline's keyword arguments (:meth:`DiffusersAdapter.pipeline_inputs`, a pure method the tests
inspect). This module owns the rest:

- options are checked when the adapter is built, device and dtype are resolved then (torch is imported,
  no weights are read); the pipeline loads on the first :meth:`~DiffusersAdapter.generate` through
  :func:`mige_eval.hub.load_pretrained`, so a missing model names itself and ``hf download``;
- every request is a pipeline call of its own with ``torch.Generator(device).manual_seed(request.seed)``.
  Batching several requests into one call would change an image with its neighbours: batched matrix
  products round differently from single ones, and with tiny random models on the CPU that already flips
  output pixels. Some pipelines also draw from torch's global generator (OmniGen samples the VAE posterior
  of its input images there), so each call runs in a fork of the global RNG state seeded with the request's
  seed, which leaves the process's own state untouched. An image depends on its sample and seed alone;
- the image comes back at ``request.size`` when the benchmark asks for one, else at the model's native
  size; pipelines need sides divisible by :attr:`~DiffusersAdapter.size_multiple`, so the model runs at the
  nearest such size (or, for models that choose their own size, at :meth:`~DiffusersAdapter.generation_size`)
  and the result is resized to the size asked for. The size the model ran at travels with the returned image
  as ``image.info["native_size"]`` (width, height);
- memory modes, implemented here once for the adapters whose options list them: ``cpu_offload`` (diffusers'
  model offload), ``group_offload`` (diffusers' group offloading hooks, leaf level with a CUDA stream) and, for
  adapters that name :attr:`~DiffusersAdapter.quantizable` components, ``quantize`` (bitsandbytes 4- or 8-bit
  weights through diffusers' ``PipelineQuantizationConfig``). All three need a CUDA device.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from PIL import Image

from mige_eval.adapters.options import choice, flag, positive_int
from mige_eval.hub import load_pretrained
from mige_eval.runtime import DTYPES, require, resolve_device, resolve_dtype
from mige_eval.types import PLACEHOLDER, Adapter, Request, count_placeholders

_DEVICE_KINDS = ("cpu", "cuda", "mps")
#: ``quantize`` values and the diffusers quantisation backend each stands for.
QUANTIZATION_BACKENDS = {"none": None, "bnb-4bit": "bitsandbytes_4bit", "bnb-8bit": "bitsandbytes_8bit"}
#: Key of ``Image.info`` holding the (width, height) the model generated at, before any resize.
NATIVE_SIZE_KEY = "native_size"
_PLACEHOLDER_RE = re.compile(re.escape(PLACEHOLDER), re.IGNORECASE)


def safety_checker_kwargs(enabled: bool) -> dict[str, Any]:
    """``from_pretrained`` arguments that keep or drop a Stable Diffusion safety checker.

    The authors' evaluation scripts run without one (a false positive blacks out the output and
    corrupts the scores), so the baselines drop it unless ``safety_checker=true`` is asked for.
    """
    return {} if enabled else {"safety_checker": None, "requires_safety_checker": False}


def text_option(name: str, value: Any) -> str:
    """A text option (a negative prompt: any string, empty included), or an error naming it."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}")
    return value


def round_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """Each side rounded to the nearest multiple of ``multiple``, halves up (at least one multiple)."""
    return tuple(max(multiple, int(side / multiple + 0.5) * multiple) for side in size)  # type: ignore[return-value]


def plain_text(request: Request) -> str:
    """The text-only instruction: ``request.prompt``, else the instruction with its placeholders removed."""
    text = request.prompt.strip() or _PLACEHOLDER_RE.sub(" ", request.instruction)
    return " ".join(text.split())


def split_placeholders(instruction: str) -> list[str]:
    """The instruction's text around its placeholders: one more piece than there are placeholders."""
    return _PLACEHOLDER_RE.split(instruction)


def require_image(request: Request, field: str, adapter: str, why: str) -> Image.Image:
    """``request.<field>`` (source, mask), or a per-sample error saying why the adapter needs it."""
    image = getattr(request, field)
    if image is None:
        raise ValueError(f"{adapter}: sample {request.id} has no {field} image; {why}")
    return image


@contextlib.contextmanager
def temporary_attribute(owner: Any, name: str, value: Any) -> Iterator[None]:
    """Set ``owner.<name>`` for the time of the block, then restore (or delete) it."""
    missing = object()
    previous = getattr(owner, name, missing)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if previous is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, previous)


@contextlib.contextmanager
def deprecated_pipeline_alias(pipeline_class: type) -> Iterator[None]:
    """Let a pipeline that diffusers moved to ``pipelines.deprecated`` load its hub checkpoints.

    Paint by Example and BLIP-Diffusion now live in ``diffusers.pipelines.deprecated.<name>``, but their
    checkpoints' ``model_index.json`` still names components by the old module (``["paint_by_example",
    "PaintByExampleImageEncoder"]``), which ``from_pretrained`` looks up on ``diffusers.pipelines`` and no longer
    finds (diffusers issue #14008). For the time of the block ``diffusers.pipelines.<name>`` is the moved
    module, as before the move; saving a pipeline built inside the block writes the hub layout. Pipelines
    that were not moved pass through unchanged.
    """
    parts = pipeline_class.__module__.split(".")
    if "deprecated" not in parts[:-1]:
        yield
        return
    at = parts.index("deprecated") + 1
    pipelines = importlib.import_module(".".join(parts[: at - 1]))
    with temporary_attribute(pipelines, parts[at], importlib.import_module(".".join(parts[: at + 1]))):
        yield


class DiffusersAdapter(Adapter):
    """Base class of the diffusers baselines (see the module docstring for what it does)."""

    #: Name of the pipeline class in the ``diffusers`` namespace.
    pipeline_class: ClassVar[str] = ""
    #: Hugging Face id used when ``model_id`` is not given.
    default_model_id: ClassVar[str] = ""
    #: Output sides must be divisible by this (VAE downsampling times patch size).
    size_multiple: ClassVar[int] = 8
    #: Precision of ``dtype=auto`` on CUDA: what the authors ran.
    cuda_dtype: ClassVar[str] = "fp16"
    #: Pipeline components that ``quantize`` loads in 4 or 8 bits (the large ones); empty: no ``quantize``.
    quantizable: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        model_id: str | None,
        revision: str,
        device: str,
        dtype: str,
        steps: int,
        resolution: int,
        cpu_offload: bool,
        attention_slicing: bool,
        group_offload: bool = False,
        quantize: str = "none",
    ) -> None:
        if model_id is not None and (not isinstance(model_id, str) or not model_id.strip()):
            raise ValueError(f"model_id must be a Hugging Face id or a local directory, got {model_id!r}")
        if not isinstance(revision, str) or not revision:
            raise ValueError(f"revision must be a branch, tag or commit of the model repository, got {revision!r}")
        if not isinstance(device, str) or (device != "auto" and device.split(":")[0] not in _DEVICE_KINDS):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
        choice("dtype", dtype, ("auto", *DTYPES))
        self.model_id = model_id or self.default_model_id
        self.revision = revision
        self.steps = positive_int("steps", steps)
        self.resolution = positive_int("resolution", resolution)
        self.cpu_offload = flag("cpu_offload", cpu_offload)
        self.attention_slicing = flag("attention_slicing", attention_slicing)
        self.device = resolve_device(device)
        if dtype == "auto" and self.device.startswith("cuda"):
            dtype = self.cuda_dtype
        self.dtype = "fp32" if dtype == "auto" else dtype
        self._torch_dtype = resolve_dtype(self.dtype, self.device)
        if self.cpu_offload and not self.device.startswith("cuda"):
            raise ValueError(
                f"cpu_offload moves weights between the CPU and a CUDA GPU; it needs a CUDA device, not {self.device}"
            )
        self.group_offload = flag("group_offload", group_offload)
        if self.group_offload and not self.device.startswith("cuda"):
            raise ValueError(
                f"group_offload streams layers between the CPU and a CUDA GPU; it needs a CUDA device, "
                f"not {self.device}"
            )
        if self.group_offload and self.cpu_offload:
            raise ValueError("cpu_offload and group_offload are two ways of offloading the same weights; choose one")
        self.quantize = choice("quantize", quantize, tuple(QUANTIZATION_BACKENDS))
        if self.quantize != "none":
            if not self.quantizable:
                raise ValueError(f"quantize={self.quantize}: the {self.name} adapter has no quantised loading")
            if not self.device.startswith("cuda"):
                raise ValueError(
                    f"quantize={self.quantize} runs bitsandbytes kernels, which need a CUDA device, not {self.device}"
                )
        self._pipeline: Any = None

    # -- what each baseline defines -------------------------------------------------------------------

    @abc.abstractmethod
    def _inputs(self, request: Request) -> dict[str, Any]:
        """The pipeline's keyword arguments for one request (all but ``generator``)."""

    def _settings(self) -> dict[str, Any]:
        """The baseline's own options, for :meth:`config`."""
        return {}

    def _load_kwargs(self) -> dict[str, Any]:
        """Extra ``from_pretrained`` arguments."""
        return {}

    def _prepare(self, pipe: Any) -> None:
        """Adjust a freshly loaded pipeline (a scheduler swap, a processor) before it moves to the device."""

    def native_size(self, request: Request) -> tuple[int, int]:
        """Output (width, height) when the benchmark asks for none."""
        return (self.resolution, self.resolution)

    # -- shared behaviour -----------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "device": self.device,
            "dtype": self.dtype,
            "steps": self.steps,
            "resolution": self.resolution,
            "cpu_offload": self.cpu_offload,
            "attention_slicing": self.attention_slicing,
            "group_offload": self.group_offload,
            "quantize": self.quantize,
            **self._settings(),
        }

    def output_size(self, request: Request) -> tuple[int, int]:
        """(width, height) of the image returned for ``request``."""
        if request.size is None:
            return self.native_size(request)
        size = tuple(request.size)
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
            raise ValueError(
                f"{self.name}: sample {request.id} asks for output size {request.size!r}; "
                "expected (width, height) in pixels"
            )
        return size  # type: ignore[return-value]

    def generation_size(self, request: Request) -> tuple[int, int]:
        """(width, height) the pipeline runs at: the output size made divisible by :attr:`size_multiple`."""
        return round_size(self.output_size(request), self.size_multiple)

    def pipeline_inputs(self, request: Request) -> dict[str, Any]:
        """Exactly what the pipeline receives for ``request``, except the generator; checks the request."""
        if request.task not in self.tasks:
            raise ValueError(
                f"{self.name}: sample {request.id} has task {request.task!r}; this adapter supports "
                f"{', '.join(sorted(self.tasks))}"
            )
        n = count_placeholders(request.instruction)
        if n != len(request.instruction_images):
            raise ValueError(
                f"{self.name}: sample {request.id}: the instruction has {n} {PLACEHOLDER} placeholder(s) but "
                f"{len(request.instruction_images)} instruction image(s); each image needs one placeholder, in order "
                f"(instruction: {request.instruction!r})"
            )
        return self._inputs(request)

    @property
    def pipeline(self) -> Any:
        """The diffusers pipeline, loaded on first use."""
        if self._pipeline is None:
            self._pipeline = self._load()
        return self._pipeline

    def quantization_config(self) -> Any:
        """diffusers' ``PipelineQuantizationConfig`` for ``quantize``, or ``None`` for full-precision weights."""
        backend = QUANTIZATION_BACKENDS[self.quantize]
        if backend is None:
            return None
        require("bitsandbytes", extra="quantization", purpose=f"quantize={self.quantize}")
        from diffusers.quantizers import PipelineQuantizationConfig

        kwargs: dict[str, Any] = {"load_in_8bit": True}
        if backend == "bitsandbytes_4bit":
            kwargs = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": self._torch_dtype}
        return PipelineQuantizationConfig(
            quant_backend=backend, quant_kwargs=kwargs, components_to_quantize=list(self.quantizable)
        )

    def _pipeline_type(self) -> type:
        """The pipeline class ``from_pretrained`` is called on."""
        diffusers = require("diffusers", extra="models", purpose=f"the {self.name} adapter")
        return getattr(diffusers, self.pipeline_class)

    def _load(self) -> Any:
        if self.cpu_offload or self.group_offload:
            require("accelerate", extra="models", purpose="cpu_offload / group_offload")
        pipeline_class = self._pipeline_type()
        quantization = self.quantization_config()
        extra = {"quantization_config": quantization} if quantization is not None else {}
        with warnings.catch_warnings(), deprecated_pipeline_alias(pipeline_class):
            # recent diffusers deprecate torch_dtype for dtype, which older ones reject: keep torch_dtype, quietly
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = load_pretrained(
                pipeline_class,
                self.model_id,
                what=f"{self.name} model",
                revision=self.revision,
                torch_dtype=self._torch_dtype,
                **self._load_kwargs(),
                **extra,
            )
        self._prepare(pipe)
        if self.cpu_offload:
            pipe.enable_model_cpu_offload(device=self.device)
        elif self.group_offload:
            import torch

            pipe.enable_group_offload(
                onload_device=torch.device(self.device),
                offload_device=torch.device("cpu"),
                offload_type="leaf_level",
                use_stream=True,
            )
        else:
            pipe.to(self.device)
        if self.attention_slicing:
            pipe.enable_attention_slicing()
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        calls = [self.pipeline_inputs(r) for r in requests]  # every request is checked before any work
        torch = require("torch", extra="models", purpose=f"the {self.name} adapter")
        pipe = self.pipeline
        cuda = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        images = []
        for request, kwargs in zip(requests, calls, strict=True):
            generator = torch.Generator(self.device).manual_seed(request.seed)
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(request.seed)  # for draws that bypass the generator (OmniGen's VAE encoding)
                image = pipe(**kwargs, generator=generator).images[0].convert("RGB")
            size, native = self.output_size(request), image.size
            if image.size != size:
                image = image.resize(size, Image.Resampling.LANCZOS)
            image.info[NATIVE_SIZE_KEY] = native
            images.append(image)
        return images
