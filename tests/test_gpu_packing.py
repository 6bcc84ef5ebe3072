"""GPU packing in the process pool: `runs_per_gpu` runs share each visible GPU, a group waits for a
free slot, CPU groups and explicitly placed groups never take one."""
from __future__ import annotations

import dataclasses

from harness.runner.executors import GpuSlots, ProcessExecutor, wants_gpu
from harness.spec import RunSpec

BASE = RunSpec(suite="pack", algorithm="iql", algorithm_config={}, scenario="climbing", seed=0,
               budget_env_steps=200, eval_interval=100, eval_episodes=4, device="auto")


def _group(device: str, seed: int = 0) -> list[RunSpec]:
    return [dataclasses.replace(BASE, device=device, seed=seed)]


def test_slots_fill_the_emptiest_gpu_first_and_free_on_release():
    slots = GpuSlots(count=2, per_gpu=2)
    assert [slots.acquire() for _ in range(5)] == [0, 1, 0, 1, None]
    slots.release(1)
    assert slots.acquire() == 1 and slots.acquire() is None
    assert GpuSlots(count=0, per_gpu=4).acquire() is None


def test_only_auto_and_plain_cuda_groups_take_a_gpu_slot():
    assert wants_gpu(_group("auto"), gpus=2) and wants_gpu(_group("cuda"), gpus=1)
    assert not wants_gpu(_group("cpu"), gpus=2) and not wants_gpu(_group("cuda:1"), gpus=2)
    assert not wants_gpu(_group("auto"), gpus=0)


def test_groups_wait_for_a_free_gpu_slot_while_cpu_groups_go_ahead():
    pool = ProcessExecutor(workers=8, runs_per_gpu=2, gpu_count=1)
    slots = GpuSlots(pool.gpu_count, pool.runs_per_gpu)
    waiting = [_group("auto", s) for s in range(3)] + [_group("cpu", 9)]
    picks = [pool._next(waiting, slots) for _ in range(3)]
    assert [(g[0].seed, gpu) for g, gpu in picks] == [(0, 0), (1, 0), (9, None)]   # seed 2 waits
    assert pool._next(waiting, slots) is None and [g[0].seed for g in waiting] == [2]
    slots.release(0)
    group, gpu = pool._next(waiting, slots)
    assert (group[0].seed, gpu) == (2, 0)
