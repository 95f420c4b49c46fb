"""Per-sample seeds and the split of a benchmark over processes.

A sample's seed depends on ``--seed`` and its id only, so batch size, shard and order never change
an image. Shards take every N-th sample of the benchmark order; the shard of a process comes from
``--shard I/N`` or, when that is absent, from the launcher's environment: ``torchrun`` and
``accelerate launch`` (``RANK`` / ``WORLD_SIZE``), then Slurm (array jobs: ``SLURM_ARRAY_TASK_ID`` −
``SLURM_ARRAY_TASK_MIN`` of ``SLURM_ARRAY_TASK_COUNT``; task launches: ``SLURM_PROCID`` of
``SLURM_NTASKS``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def sample_seed(seed: int, sample_id: str) -> int:
    """A 32-bit seed from the run seed and the sample id (sha256, so unrelated ids give unrelated seeds)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    origin: str = "--shard"

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count} ({self.origin}): need 0 <= I < N")

    @property
    def label(self) -> str:
        """Journal name of this shard's records."""
        return f"shard-{self.index:03d}-of-{self.count:03d}"

    def select(self, items: Sequence[T]) -> list[T]:
        return [item for i, item in enumerate(items) if i % self.count == self.index]


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 0/4 for the first of four shards")
    return Shard(int(match.group(1)), int(match.group(2)))


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard:
    """The shard a launcher gave this process; a single shard when no launcher variables are set."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return Shard(int(env["RANK"]), int(env["WORLD_SIZE"]), "torchrun/accelerate RANK, WORLD_SIZE")
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        index = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        return Shard(index, int(env["SLURM_ARRAY_TASK_COUNT"]), "Slurm array SLURM_ARRAY_TASK_ID")
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        return Shard(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), "Slurm SLURM_PROCID, SLURM_NTASKS")
    return Shard(0, 1, "single process")


def resolve_shard(option: str | None, env: Mapping[str, str] | None = None) -> Shard:
    """``--shard`` wins over the environment."""
    return parse_shard(option) if option else shard_from_env(env)
