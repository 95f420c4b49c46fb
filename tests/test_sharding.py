from __future__ import annotations

import pytest

from mige_eval.sharding import Shard, parse_shard, resolve_shard, sample_seed, shard_from_env


def test_seed_depends_on_run_seed_and_id_only():
    assert sample_seed(0, "dog-00") == sample_seed(0, "dog-00")
    assert sample_seed(0, "dog-00") != sample_seed(1, "dog-00")
    assert sample_seed(0, "dog-00") != sample_seed(0, "dog-01")
    assert 0 <= sample_seed(123, "x") < 2**32
    assert sample_seed(0, "dog-00") == 2421621110  # pinned: changing the derivation changes every image


def test_shards_partition_the_samples():
    items = list(range(10))
    parts = [Shard(i, 3).select(items) for i in range(3)]
    assert sorted(sum(parts, [])) == items and parts[0] == [0, 3, 6, 9]


@pytest.mark.parametrize("text", ["2/2", "a/b", "1", "-1/3", "0/0"])
def test_bad_shard_text(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_launcher_environments():
    assert shard_from_env({"RANK": "1", "WORLD_SIZE": "4"}) == Shard(1, 4, "torchrun/accelerate RANK, WORLD_SIZE")
    array = shard_from_env({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "3"})
    assert (array.index, array.count) == (2, 3)
    tasks = shard_from_env({"SLURM_PROCID": "2", "SLURM_NTASKS": "4"})
    assert (tasks.index, tasks.count) == (2, 4)
    assert (shard_from_env({}).index, shard_from_env({}).count) == (0, 1)
    assert resolve_shard("0/2", {"RANK": "1", "WORLD_SIZE": "4"}) == Shard(0, 2)
