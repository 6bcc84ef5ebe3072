"""On-policy pieces: GAE over rollouts with time-outs and restarts inside them (hand-computed), PPO's
losses, the value normaliser, the autoresetting stepper, MAPPO learning and resuming exactly."""
import json

import pytest
import torch

from algorithms.components.ppo import ValueNorm, clipped_surrogate, clipped_value_loss
from algorithms.components.returns import gae
from harness.envs import make
from harness.runner.loop import RunLoop
from harness.runner.stepping import Stepper
from harness.spec import CompositionSpec, RunSpec
from algorithms.calls import immediate

# 5 steps: a time-out at step 1, the restart step 2 (no transition), then a new episode
REWARD = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
VALUE = torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]])      # V_2 = value of the real final observation
EPISODE_END = torch.tensor([[False, True, False, False, False]])
VALID = torch.tensor([[True, True, False, True, True]])


def test_gae_bootstraps_a_time_out_from_its_final_observation():
    adv, ret = gae(REWARD, VALUE, torch.zeros_like(EPISODE_END), EPISODE_END, VALID, gamma=0.5, lam=0.5)
    # A4 = 5 + .5*60 - 50 = -15; A3 = 4 + .5*50 - 40 + .25*A4 = -14.75; A2 = 0 (restart)
    # A1 = 2 + .5*30 - 20 = -3 (does not reach into the next episode); A0 = 1 + .5*20 - 10 + .25*A1 = 0.25
    assert adv[0].tolist() == [0.25, -3.0, 0.0, -14.75, -15.0]
    assert ret[0].tolist() == [10.25, 17.0, 30.0, 25.25, 35.0]


def test_gae_does_not_bootstrap_a_time_out_treated_as_terminal():
    adv, _ = gae(REWARD, VALUE, EPISODE_END, EPISODE_END, VALID, gamma=0.5, lam=0.5)
    assert adv[0].tolist() == [-3.5, -18.0, 0.0, -14.75, -15.0]


def test_gae_broadcasts_over_agents():
    adv, _ = gae(REWARD[..., None].expand(1, 5, 3), VALUE[..., None].expand(1, 6, 3), torch.zeros_like(EPISODE_END),
                 EPISODE_END, VALID, gamma=0.5, lam=0.5)
    assert adv.shape == (1, 5, 3) and (adv[..., 0] == adv[..., 2]).all()


def test_clipped_surrogate_and_value_loss_by_hand():
    old = torch.log(torch.tensor([0.5, 0.5]))
    new = torch.log(torch.tensor([0.8, 0.2]))                # ratios 1.6 and 0.4
    adv, mask = torch.tensor([1.0, -1.0]), torch.ones(2)
    loss, clipped = clipped_surrogate(new, old, adv, 0.2, mask)
    # min(1.6, 1.2) * 1 = 1.2; min(0.4 * -1, 0.8 * -1) = -0.8; loss = -(1.2 - 0.8) / 2
    assert loss.item() == pytest.approx(-0.2) and clipped.item() == 1.0
    v, old_v, target = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([0.5])
    # unclipped error 1.5, clipped value 0.2 -> error 0.3: the larger Huber(δ=1) is 1.5 - 0.5 = 1.0
    assert clipped_value_loss(v, old_v, target, 0.2, 1.0, torch.ones(1)).item() == pytest.approx(1.0)


def test_value_norm_learns_the_scale_and_inverts():
    norm = ValueNorm(beta=0.9)
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(0)) * 20 + 5
    for _ in range(200):
        norm.update(x, torch.ones_like(x, dtype=torch.bool))
    z = norm.normalise(x)
    assert z.mean().abs() < 0.05 and (z.std() - 1).abs() < 0.05
    assert torch.allclose(norm.denormalise(z), x, atol=1e-3)


class _First:
    """Always action 0, recording the starts it was reset at."""

    def __init__(self):
        self.resets = []

    def init_hidden(self, b):
        return None

    def reset_hidden(self, hidden, starts):
        self.resets.append(starts.clone())
        return hidden

    def act_program(self, step, hidden, t_env, explore, generator):
        return immediate((torch.zeros(step.obs.shape[:2], dtype=torch.long), hidden,
                          {"mark": torch.ones(step.obs.shape[:2])}))


def test_stepper_marks_restart_steps_and_episode_starts():
    env = make("climbing", batch_size=2, seed=0, autoreset=True)   # one-step episodes
    alg = _First()
    batch, stats = Stepper(env, alg, seed=1).collect(6, t_env=0, explore=True, generator=torch.Generator())
    # every episode is one step, so steps alternate transition / restart
    assert batch.valid[0].tolist() == [True, False, True, False, True, False]
    assert batch.starts[0].tolist() == [True, False, True, False, True, False, True]
    assert batch.terminated[0].tolist() == [True, False, True, False, True, False]
    assert stats.steps == 6 and len(stats.returns) == 6 and stats.lengths == [1] * 6
    assert batch.reward[:, 1::2].eq(0).all() and batch.extras["mark"].shape == (2, 6, 2)
    assert [r.tolist() for r in alg.resets[:2]] == [[True, True], [False, False]]


def test_combat_stepper_continues_episodes_across_rounds():
    env = make("3m", batch_size=4, seed=0, autoreset=True)
    from harness.envs.combat.policies import RandomPolicy

    class Random(_First):
        def __init__(self):
            super().__init__()
            self.policy = RandomPolicy(env, seed=0)

        def act_program(self, step, hidden, t_env, explore, generator):
            return immediate((self.policy(step), hidden))

    stepper = Stepper(env, Random(), seed=1)
    lengths = []
    for _ in range(6):
        batch, stats = stepper.collect(20, t_env=0, explore=True, generator=torch.Generator())
        lengths += stats.lengths
        assert stats.steps == int(batch.valid.sum())
        # a restart step follows every end, and the step after it starts an episode
        ends = (batch.terminated | batch.truncated)[:, :-1]
        assert (~batch.valid[:, 1:][ends]).all() and batch.starts[:, 2:][ends].all()
    assert lengths and all(1 <= n <= env.info.episode_limit for n in lengths)
    assert max(lengths) > 20, "episodes must run on across rounds"


def _mappo_spec(**kw) -> RunSpec:
    base = dict(suite="mappo", algorithm="mappo", algorithm_config={"horizon": 10, "epochs": 4, "entropy_coef": 0.0},
                scenario="mipi_matrix", seed=0, budget_env_steps=3200, eval_interval=800, eval_episodes=32,
                device="cpu", n_envs=16, train=CompositionSpec(teams=(("A", "B"), ("B", "A"))))
    return RunSpec(**(base | kw))


def _evals(root) -> list[dict]:
    return [json.loads(x) for x in next((root / "runs").iterdir()).joinpath("evals.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("algorithm, config", [("mappo", {"recurrent": True}), ("mappo", {"recurrent": False}),
                                               ("attn_mappo", {"attn_embed_dim": 16})])
def test_mappo_learns_the_optimum_of_mipis_training_game(tmp_path, algorithm, config):
    # attn_mappo: entity attention in the actor and the critic (its own entity fed past the attention)
    spec = _mappo_spec(algorithm=algorithm, algorithm_config={"horizon": 10, "epochs": 4, "entropy_coef": 0.0, **config})
    loop = RunLoop(spec, tmp_path, lambda e: None)
    loop.files.create(loop.spec)
    loop.run()
    final = [r for r in _evals(tmp_path) if r["step"] == loop.state.t_env and r["composition"] == "all"]
    assert final[0]["win_rate"] == 1.0        # a random policy picks the optimal joint action 1 time in 4


def test_mappo_evaluates_with_its_stochastic_policy_when_evaluation_is_not_greedy(tmp_path):
    spec = _mappo_spec(budget_env_steps=320, eval_interval=160, eval_greedy=False)
    loop = RunLoop(spec, tmp_path, lambda e: None)
    loop.files.create(spec)
    loop.run()
    assert len([r for r in _evals(tmp_path) if r["composition"] == "all" and r["eval_set"] == "train"]) == 3
