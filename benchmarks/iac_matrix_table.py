"""IAC's matrix-game diagnostic for the value-factorisation family: trained on uniformly visited joint
actions (ε = 1 throughout), which algorithms' greedy joint action is the optimum (A, A)? Prints the
Markdown table of docs/algorithms.md.
    python benchmarks/iac_matrix_table.py [algorithms] [seeds] [episodes] [config overrides as JSON]
"""
import json
import sys
import tempfile

import torch

from harness.envs.registry import make
from harness.runner.loop import RunLoop
from harness.spec import RunSpec

ALGORITHMS = "iql,vdn,qmix,qtran,qplex,ow_qmix,cw_qmix"
NAMES = "ABC"


def greedy_joint_action(algorithm: str, seed: int, steps: int, out: str, **config) -> tuple[int, ...]:
    spec = RunSpec(suite="iac-diagnostic", algorithm=algorithm, scenario="iac_matrix", seed=seed,
                   algorithm_config={"epsilon_start": 1.0, "epsilon_finish": 1.0, "epsilon_anneal_time": 1} | config,
                   budget_env_steps=steps, eval_interval=steps, eval_episodes=8)
    loop = RunLoop(spec, out, lambda e: None, device="cpu", tracking_enabled=False)
    loop.run()
    step = make("iac_matrix", batch_size=1, seed=0).reset()
    greedy, _ = loop.algorithm.act(step, loop.algorithm.init_hidden(1), 10**9, False, torch.Generator())
    return tuple(greedy[0].tolist())


def main() -> None:
    algorithms = (sys.argv[1] if len(sys.argv) > 1 else ALGORITHMS).split(",")
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    config = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}   # overrides, e.g. '{"attention_heads": 10}'
    print("| algorithm | finds (A, A) | greedy joint action per seed |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as out:
        for algorithm in algorithms:
            actions = [greedy_joint_action(algorithm, seed, steps, out, **config) for seed in range(seeds)]
            found = sum(a == (0, 0) for a in actions)
            cells = ", ".join("(" + ", ".join(NAMES[u] for u in a) + ")" for a in actions)
            print(f"| {algorithm} | {found}/{seeds} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
