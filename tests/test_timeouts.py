"""A time-out is stored as ``truncated`` with the real final observation, so a bootstrapped TD target
reads the state the time limit cut (the combat env used to hand over a finished battle's no-op view)."""
from dataclasses import replace

import pytest
import torch

from algorithms.base import Algorithm
from harness.envs import make
from harness.envs.combat import maps
from harness.runner.rollout import collect
from algorithms.calls import immediate

STOP = 1


@pytest.fixture
def short_3m(monkeypatch):
    """3m with a 3-step time limit: no battle can end by fighting that soon."""
    monkeypatch.setitem(maps.MAPS, "3m", replace(maps.MAPS["3m"], episode_limit=3))


def _real_views(env) -> dict:
    """The views of the current state as if no battle were over."""
    c = env._carry
    return env._views_of(c.battle, c.bits, c.tags, torch.zeros_like(c.terminated))


def test_the_step_a_time_limit_ends_shows_the_real_state_and_actions(short_3m):
    env = make("3m", batch_size=4, seed=0)
    step = env.reset()
    stop = torch.full((4, 3), STOP)
    for _ in range(3):
        step = env.step(stop, enemy_actions=stop)
    assert step.truncated.all() and not step.terminated.any()
    real = _real_views(env)
    assert torch.equal(step.obs, real["obs"]) and torch.equal(step.avail_actions, real["avail"])
    assert step.avail_actions[..., 1:6].all(), "live agents may stop and move in the state the time limit cut"
    assert (step.obs[..., :4] == 1).all(), "the move features of the final observation are real"
    step = env.step(stop, enemy_actions=stop)   # a battle already over offers only the no-op
    assert step.avail_actions[..., 0].all() and not step.avail_actions[..., 1:].any()


class _Stopper(Algorithm):
    """Every live agent stops: a policy that never ends a battle by fighting."""

    name = "stopper"

    def init_hidden(self, batch_size):
        return None

    def act_program(self, step, hidden, t_env, explore, generator):
        return immediate((torch.where(step.avail_actions[..., STOP], STOP, 0), None))

    def observe(self, episodes): ...
    def train_program(self, t_env, episodes_seen, generator): return immediate(None)
    def state_dict(self): return {}
    def load_state_dict(self, state): ...


def test_collected_time_outs_are_truncated_with_the_real_final_observation(short_3m):
    env = make("3m", batch_size=4, seed=0)
    batch, stats = collect(env, _Stopper(env.info, None, torch.device("cpu")), t_env=0, explore=False,
                           generator=torch.Generator().manual_seed(0), seed=1)
    assert batch.max_t == 3 and stats.lengths == [3] * 4
    assert batch.truncated[:, 2].all() and not batch.terminated.any() and not batch.truncated[:, :2].any()
    assert torch.equal(batch.obs[:, 3], _real_views(env)["obs"])
    assert batch.avail_actions[:, 3, :, 1:6].all()
    assert torch.equal(batch.end_of_return("terminal"), batch.truncated)
    assert not batch.end_of_return("bootstrap").any()
