"""The cost of one learner update (forward and backward of the loss) of the entity algorithms on a
PyMARL batch of 32 episodes, one thread, side by side in one process: a CPU-or-GPU sizing check.

Run: python benchmarks/entity_update_cost.py [scenario] [algorithms...] [--device cuda]
"""
from __future__ import annotations

import argparse
import time

import torch

from algorithms import registry
from algorithms.base import Protocol
from harness.envs import make
from harness.runner.rollout import collect


def update_seconds(name: str, scenario: str, device: torch.device, repeats: int = 3) -> tuple[float, int]:
    """Mean seconds of one update of ``name`` on a batch of 32 random-play episodes, and its steps."""
    env = make(scenario, batch_size=32, seed=0)
    cls = registry.get(name)
    torch.manual_seed(0)
    alg = cls(env.info, cls.config_cls.from_overrides({}), device, Protocol("terminal"))
    batch, _ = collect(env, alg, t_env=0, explore=True, generator=torch.Generator().manual_seed(0), seed=1)
    batch = batch.to(device)
    args = alg.loss_args(batch, torch.Generator().manual_seed(0))

    def update() -> None:
        out = alg.learner.loss(batch.tensors(), *args)
        (out[0] if isinstance(out, tuple) else out).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    update()                                   # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        update()
    return (time.perf_counter() - start) / repeats, batch.max_t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="3-8sz")
    parser.add_argument("algorithms", nargs="*", default=["attn_vdn", "attn_qmix", "refil_qmix", "opt"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.algorithms:
        seconds, steps = update_seconds(name, args.scenario, torch.device(args.device))
        print(f"{name:12s} {args.scenario}: {seconds:6.2f} s per update (32 episodes x {steps} steps, {args.device})")


if __name__ == "__main__":
    main()
