"""Device choice: one GPU per process under launchers that start one process per GPU."""

from __future__ import annotations

import pytest
import torch

from mige_eval.runtime import resolve_device


@pytest.fixture()
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_auto_and_cuda_take_the_local_rank_s_gpu_under_a_launcher(two_gpus, monkeypatch):
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda"
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == "cuda:1" and resolve_device("cuda") == "cuda:1"
    assert resolve_device("cuda:0") == "cuda:0", "an explicit GPU is kept"
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setenv("LOCAL_RANK", "3")  # more processes than GPUs on this node: they share them in turn
    assert resolve_device("auto") == "cuda:1"


def test_without_a_gpu_auto_is_the_cpu_and_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="torch sees no CUDA GPU; use --device cpu"):
        resolve_device("cuda")
