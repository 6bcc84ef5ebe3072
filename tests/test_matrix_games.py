"""Matrix games: payoffs as documented, batching semantics, and IAC's value-factorisation diagnostic."""
import itertools

import pytest
import torch

from harness.envs import CompositionSpec, make
from harness.envs.matrix import GAMES
from algorithms.calls import drive_together
from harness.runner.loop import RunLoop
from harness.spec import RunSpec


def test_mipi_game_has_distinct_optima_and_constant_safe_action():
    game = GAMES["mipi_matrix"]
    comps = [("A", "B"), ("B", "A"), ("B", "B")]
    optima = []
    for c in comps:
        table = torch.tensor(game.payoffs[c])
        optima.append(tuple(divmod(int(table.argmax()), 2)))
        assert table[0, 0] == 5
    assert len(set(optima)) == 3, optima


def test_iac_payoff_matches_paper_table():
    assert GAMES["iac_matrix"].payoffs[("X", "X")] == [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]]


def test_matrix_env_rewards_every_joint_action():
    env = make("iac_matrix", batch_size=9, seed=0)
    env.reset()
    joint = torch.tensor(list(itertools.product(range(3), repeat=2)))
    step = env.step(joint)
    expected = torch.tensor([8, -12, -12, -12, 0, 0, -12, 0, 0], dtype=torch.float32)
    assert torch.equal(step.reward, expected)
    assert step.battle_won.tolist() == [True] + [False] * 8
    assert step.terminated.all()
    again = env.step(joint)  # a done env stays done with zero reward until reset
    assert torch.equal(again.reward, torch.zeros(9)) and again.done.all()


def test_matrix_env_draws_declared_teams_only_and_is_seeded():
    spec = CompositionSpec(teams=(("B", "B"),))
    env = make("mipi_matrix", batch_size=16, seed=3, composition=spec)
    env.reset()
    assert set(env.compositions()) == {"BB"}
    a = make("mipi_matrix", batch_size=16, seed=5)
    b = make("mipi_matrix", batch_size=16, seed=5)
    a.reset(); b.reset()
    assert a.compositions() == b.compositions()
    assert set(a.compositions()) <= {"AB", "BA"}


def test_matrix_env_rejects_bad_input():
    with pytest.raises(ValueError, match="allowed"):
        make("mipi_matrix", batch_size=2, seed=0, composition=CompositionSpec(teams=(("C", "A"),)))
    env = make("climbing", batch_size=2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        env.step(torch.tensor([[0, 3], [0, 0]]))


@pytest.mark.parametrize("algorithm", ["vdn", "qmix"])
def test_value_factorisation_misses_the_optimum_of_iac_game_under_uniform_exploration(tmp_path, algorithm):
    """IAC's diagnostic: trained on uniformly visited joint actions, VDN and QMIX settle off (A, A).
    The five seeds train together as a run group (batched updates; each seed's records are what it
    has trained alone, as tests/test_run_groups.py checks)."""
    loops = [RunLoop(RunSpec(suite="iac-diagnostic", algorithm=algorithm, scenario="iac_matrix", seed=seed,
                             algorithm_config={"epsilon_start": 1.0, "epsilon_finish": 1.0, "epsilon_anneal_time": 1},
                             budget_env_steps=2000, eval_interval=2000, eval_episodes=8),
                     tmp_path, lambda e: None, device="cpu", tracking_enabled=False) for seed in range(5)]
    drive_together([loop.program() for loop in loops])
    for seed, loop in enumerate(loops):
        env = make("iac_matrix", batch_size=1, seed=0)
        step = env.reset()
        greedy, _ = loop.algorithm.act(step, loop.algorithm.init_hidden(1), 10**9, False, torch.Generator())
        assert tuple(greedy[0].tolist()) != (0, 0), f"{algorithm} seed {seed} found (A, A)"
        # ... and the run did learn: its greedy joint action is not among the -12 entries
        assert env.step(greedy).reward.item() == 0.0
