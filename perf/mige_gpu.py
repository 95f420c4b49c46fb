"""MIGE generation speed and memory: seconds per image and peak GPU memory, per precision, offload mode and
batch size, next to the released scripts' procedure emulated on the same modules.

Not a test — it prints the table for ``docs/performance.md`` and ``docs/mige_model.md``. From the
repository root, on a machine with a CUDA GPU (no download: time and memory do not depend on weight
values, so MIGE is built at the released sizes with random weights, directly on the GPU):

    python perf/mige_gpu.py                      # released sizes, cuda, fp32/bf16/authors, batch 1, 5, 25
    python perf/mige_gpu.py --tiny               # toy sizes on the CPU, seconds (the CI smoke run)

Rows:

- ``mige-eval``: :meth:`MIGEPipeline.generate` on ``--samples`` samples of one task: every instruction
  encoded (T5 on the GPU once), then sampled ``batch`` samples per DiT batch, then decoded one by one;
  ``offload`` says whether T5 lives on the CPU between chunks (``offload_text_encoder=true``) or stays
  on the GPU (``false``; ``auto`` picks one of the two by the card's memory).
- ``released``: the authors' scripts' procedure on the same modules: whole model resident in bf16
  (``precision=authors``), their batch sizes (5 subject, 25 edit), and their cost per network evaluation
  (``MIGE.forward`` runs the image encoder on all four slots of every sample and T5 on every
  instruction again at each of the 50 / 60 steps), the batch decoded at once.

Each row generates ``--samples`` images after one untimed warm-up sample; "s/image" is the wall time
over the samples (encoding, sampling, decoding); "peak GiB" is ``torch.cuda.max_memory_allocated``
during the row (CUDA only). Reference images are 512×512 noise, one per sample (subject) or the source
(edit).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from mige_model import splice as splicing
from mige_model.config import DiTConfig, FusionConfig, MIGEConfig, QFormerConfig, VisionConfig
from mige_model.pipeline import MIGEPipeline
from mige_model.released import build_released

#: The released scripts' batch sizes (``--bs``): subject 5, edit and MIGEBench 25.
RELEASED_BATCH = {"subject": 5, "edit": 25}
TINY = MIGEConfig(
    vision=VisionConfig(image_size=28, patch_size=14, width=32, depth=2, heads=2, mlp_ratio=2.0),
    qformer=QFormerConfig(hidden=32, layers=2, heads=2, intermediate=64, cross_attention_freq=2, query_tokens=4),
    fusion=FusionConfig(heads=2),
    dit=DiTConfig(
        latent_size=8,
        patch_size=2,
        in_channels=8,
        out_channels=8,
        hidden=32,
        depth=2,
        heads=2,
        caption_dim=32,
        caption_tokens=48,
        base_size=4,
    ),
    t5_dim=32,
    max_images=4,
    image_size=64,
)
TINY_T5 = {
    "vocab_size": 256,
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 8,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
TINY_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 8, 16, 16),
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": 64,
    "scaling_factor": 0.18215,
}
INSTRUCTIONS = {"subject": "a<imagehere>in the jungle with a red backpack", "edit": "make the sky in the image pink"}


@dataclass
class Row:
    mode: str
    precision: str
    offload: bool
    task: str
    batch: int
    seconds_per_image: float | None  # None: out of memory
    peak_gib: float | None


def tokenizer():
    """A T5 (Unigram) tokenizer over a few words; ids stay far below T5's vocabulary."""
    from transformers import T5Tokenizer

    words = sorted({w for text in INSTRUCTIONS.values() for w in text.replace("<imagehere>", " ").split()})
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -3.0)] + [("▁" + w, -2.0) for w in words]
    pieces += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def materialise(module: torch.nn.Module, device: torch.device, dtype: torch.dtype, generator: torch.Generator):
    """A module built on the meta device, allocated on ``device`` in ``dtype`` and filled with N(0, 0.02)."""
    module = module.to(dtype=dtype).to_empty(device=device)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.normal_(0.0, 0.02, generator=generator)
    return module.eval()


def build_pipeline(*, tiny: bool, device: torch.device, precision: str, offload: bool) -> MIGEPipeline:
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    generator = torch.Generator(device).manual_seed(0)
    with torch.device("meta"):
        parts = build_released(
            config=TINY if tiny else None,
            t5=TINY_T5 if tiny else None,
            vae=TINY_VAE if tiny else None,
            tokenizer=tokenizer(),
        )
    parts.module = materialise(parts.module, device, dtype, generator)
    parts.text_encoder = materialise(parts.text_encoder, device, dtype, generator)
    parts.vae = materialise(parts.vae, device, torch.float32, generator)
    return MIGEPipeline(parts, device=str(device), precision=precision, offload_text_encoder=offload)


def jobs(pipe: MIGEPipeline, task: str, count: int, steps: int) -> list:
    size = pipe.config.image_size
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8)) for _ in range(count)]
    if task == "subject":
        return [pipe.job(INSTRUCTIONS[task], [image], seed=k, steps=steps) for k, image in enumerate(images)]
    return [pipe.job(INSTRUCTIONS[task], [], image, task="edit", seed=k, steps=steps) for k, image in enumerate(images)]


@contextlib.contextmanager
def measured(device: torch.device):
    """Yields a dict that receives ``seconds`` and ``peak_gib`` of the block."""
    result: dict = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield result
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        result["peak_gib"] = torch.cuda.max_memory_allocated(device) / 1024**3
    result["seconds"] = time.perf_counter() - start


def released_procedure(pipe: MIGEPipeline, chunk: list) -> None:
    """The released scripts' cost for one batch: every network evaluation first reruns the image encoder,
    Q-Former and fusion on all four slots of every sample and T5 on the batch's instructions; the batch
    is decoded at once. (Time and memory do not depend on the values, so the slots are zeros here.)"""
    slots, size, latent = pipe.config.max_images, pipe.config.vision.image_size, pipe.config.dit.latent_size
    pixels = torch.zeros(slots * len(chunk), 3, size, size)
    reference_latents = torch.zeros(slots * len(chunk), 4, latent, latent, device=pipe.device, dtype=pipe.dtype)
    ids = [splicing.tokenize_segments(pipe.tokenizer, job.segments) for job in chunk]
    embed = pipe.text_encoder.get_input_embeddings()

    def encoders(_module, _args):
        tokens = pipe.module.image_tokens(pixels, reference_latents, encoder_fp16=pipe._encoder_fp16)
        blocks = tokens.reshape(len(chunk), slots, *tokens.shape[1:])
        embeds, masks = splicing.splice_batch(
            ids, [b[: len(i) - 1] for b, i in zip(blocks, ids)], embed, max_tokens=pipe.config.dit.caption_tokens
        )
        pipe.text_encoder(inputs_embeds=embeds, attention_mask=masks)

    encoded = pipe.encode(chunk)  # the VAE posteriors of the references, T5 once (the scripts' loading pass)
    hook = pipe.module.dit.register_forward_pre_hook(encoders)
    try:
        latents = pipe.sample(encoded, chunk)
    finally:
        hook.remove()
    pipe.vae.decode(latents / pipe.config.vae_scale)


def run_row(pipe, *, mode, task, batch, samples, steps) -> Row:
    device = pipe.device
    try:
        with torch.no_grad():
            pipe.generate(jobs(pipe, task, 1, 1))  # warm-up: kernels, allocator, autotuning
            work = jobs(pipe, task, samples, steps)
            with measured(device) as m:
                if mode == "released":
                    for start in range(0, samples, batch):
                        released_procedure(pipe, work[start : start + batch])
                else:
                    pipe.generate(work, batch_size=batch)
        seconds, peak = m["seconds"] / samples, m.get("peak_gib")
    except torch.cuda.OutOfMemoryError:
        seconds, peak = None, None
        torch.cuda.empty_cache()
    return Row(mode, pipe.precision, pipe.offload_text_encoder, task, batch, seconds, peak)


def table(rows: list[Row]) -> str:
    lines = ["| rows | precision | T5 offloaded | task | batch | s/image | peak GiB |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        seconds = "out of memory" if r.seconds_per_image is None else f"{r.seconds_per_image:.3f}"
        peak = "—" if r.seconds_per_image is None else "n/a (CPU)" if r.peak_gib is None else f"{r.peak_gib:.1f}"
        lines.append(
            f"| {r.mode} | {r.precision} | {'yes' if r.offload else 'no'} | {r.task} | {r.batch} | {seconds} | {peak} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes on the CPU (seconds; the CI smoke run)")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --tiny)")
    parser.add_argument("--precisions", default=None, help="comma-separated; default fp32,bf16,authors (fp32 on CPU)")
    parser.add_argument("--tasks", default="subject,edit")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated; default 1,5,25 (1,2 with --tiny)")
    parser.add_argument("--samples", type=int, default=None, help="images per row; default 25 (2 with --tiny)")
    parser.add_argument("--steps", type=int, default=None, help="default: the released 50 / 60 (2 with --tiny)")
    args = parser.parse_args(argv)

    device = torch.device(args.device or ("cpu" if args.tiny else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is visible: run on a GPU machine, or pass --tiny for the CPU smoke run")
    cpu = device.type != "cuda"
    precisions = (args.precisions or ("fp32" if cpu else "fp32,bf16,authors")).split(",")
    batch_sizes = [int(b) for b in (args.batch_sizes or ("1,2" if args.tiny else "1,5,25")).split(",")]
    samples = args.samples or (2 if args.tiny else 25)
    tasks = args.tasks.split(",")
    steps = {task: args.steps or (2 if args.tiny else (50 if task == "subject" else 60)) for task in tasks}
    offloads = [False] if cpu else [False, True]

    rows = []
    for precision in precisions:
        for offload in offloads:
            pipe = build_pipeline(tiny=args.tiny, device=device, precision=precision, offload=offload)
            for task in tasks:
                for batch in batch_sizes:
                    rows.append(
                        run_row(pipe, mode="mige-eval", task=task, batch=batch, samples=samples, steps=steps[task])
                    )
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
            del pipe
            if not cpu:
                torch.cuda.empty_cache()
    released_precision = "fp32" if cpu else "authors"
    pipe = build_pipeline(tiny=args.tiny, device=device, precision=released_precision, offload=False)
    for task in tasks:
        batch = min(RELEASED_BATCH[task], samples)
        rows.append(run_row(pipe, mode="released", task=task, batch=batch, samples=samples, steps=steps[task]))
    sizes = "toy sizes" if args.tiny else "released sizes"
    name = torch.cuda.get_device_name(device) if not cpu else "CPU"
    print(f"\nMIGE, {sizes}, random weights, on {name}; {samples} images per row, steps {steps}\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
