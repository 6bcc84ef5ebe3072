"""The entity view reaches the learner: collected episodes and rollouts carry it when the environment
builds it (algorithms with capabilities.needs_entities), and replay stores and samples it."""
import torch

from algorithms.components.replay import EpisodeReplay
from harness.envs import make
from harness.envs.combat.policies import RandomPolicy
from harness.runner.rollout import collect
from harness.runner.stepping import Stepper
from algorithms.calls import immediate


class _Random:
    def __init__(self, env):
        self.policy = RandomPolicy(env, seed=0)

    def init_hidden(self, b):
        return None

    def reset_hidden(self, hidden, starts):
        return hidden

    def act_program(self, step, hidden, t_env, explore, generator):
        return immediate((self.policy(step), hidden))


def test_collected_episodes_carry_the_entity_view_and_replay_keeps_it():
    env = make("3-8sz", batch_size=4, seed=0, entity_view=True)
    batch, _ = collect(env, _Random(env), t_env=0, explore=True, generator=torch.Generator(), seed=5)
    E, A = env.info.n_entities, env.info.n_agents
    assert batch.entities.shape == (4, batch.max_t + 1, E, env.info.entity_dim)
    assert batch.entity_mask.shape == (4, batch.max_t + 1, E) and batch.obs_mask.shape == (4, batch.max_t + 1, A, E)
    first = env.reset(seed=5)   # the same seed replays the first observation
    assert torch.equal(batch.entities[:, 0], first.entities) and torch.equal(batch.obs_mask[:, 0], first.obs_mask)
    replay = EpisodeReplay(8, env.info.episode_limit, torch.device("cpu"))
    replay.insert(batch)
    sample = replay.sample(4, torch.Generator().manual_seed(0))
    assert sample.entities is not None and sample.entities.shape[2:] == (E, env.info.entity_dim)
    assert sample.entity_mask.dtype == torch.bool


def test_without_the_entity_view_nothing_of_it_is_stored():
    env = make("3m", batch_size=2, seed=0, entity_view=False)
    batch, _ = collect(env, _Random(env), t_env=0, explore=True, generator=torch.Generator(), seed=5)
    assert batch.entities is None and "entities" not in batch.tensors()


def test_rollouts_carry_the_entity_view():
    env = make("3m", batch_size=2, seed=0, autoreset=True, entity_view=True)
    batch, _ = Stepper(env, _Random(env), seed=1).collect(5, t_env=0, explore=True, generator=torch.Generator())
    assert batch.entities.shape == (2, 6, env.info.n_entities, env.info.entity_dim)
