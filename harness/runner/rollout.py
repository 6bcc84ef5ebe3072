"""Collect one batch of complete episodes from a batched environment with an algorithm's policy."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from algorithms.base import Algorithm
from algorithms.calls import Program, StepEnv, drive
from algorithms.components.replay import EpisodeBatch
from harness.envs.base import BatchedEnv


ENTITY_VIEW = ("entities", "entity_mask", "obs_mask")


@dataclass
class EpisodeStats:
    """Per-episode outcomes of one collected batch (length B lists)."""

    won: list[bool]
    returns: list[float]
    lengths: list[int]
    compositions: list[str]
    steps: int | None = None     # env steps collected, where episodes did not all run whole

    @property
    def env_steps(self) -> int:
        return sum(self.lengths) if self.steps is None else self.steps


def collect(env: BatchedEnv, algorithm: Algorithm, *, t_env: int, explore: bool,
            generator: torch.Generator, seed: int, keep_batch: bool = True) -> tuple[EpisodeBatch | None, EpisodeStats]:
    """Run B episodes to their end (reset with ``seed``), returning the padded batch and outcomes."""
    return drive(collect_program(env, algorithm, t_env=t_env, explore=explore, generator=generator, seed=seed,
                                 keep_batch=keep_batch))


def collect_program(env: BatchedEnv, algorithm: Algorithm, *, t_env: int, explore: bool, generator: torch.Generator,
                    seed: int, keep_batch: bool = True) -> Program:
    """:func:`collect` as a program (its policy evaluations are calls a run group batches)."""
    B, limit = env.batch_size, env.info.episode_limit
    step = env.reset(seed=seed)
    compositions = env.compositions()
    hidden = algorithm.init_hidden(B)
    alive = torch.ones(B, dtype=torch.bool, device=env.device)                 # [B]
    returns = torch.zeros(B, device=env.device)
    lengths = torch.zeros(B, dtype=torch.long, device=env.device)
    won = torch.zeros(B, dtype=torch.bool, device=env.device)
    obs, state, avail, amask, acts, rews, terms, truncs, filled = [], [], [], [], [], [], [], [], []
    views: dict[str, list[torch.Tensor]] = {k: [] for k in ENTITY_VIEW} if step.entities is not None else {}
    for _ in range(limit):
        if keep_batch:
            obs.append(step.obs); state.append(step.state)
            avail.append(step.avail_actions); amask.append(step.agent_mask)
            for k, v in views.items():
                v.append(getattr(step, k))
        actions, hidden = (yield from algorithm.act_program(step, hidden, t_env, explore, generator))[:2]
        nxt = yield StepEnv(env, actions.to(env.device))
        reward = torch.where(alive, nxt.reward, torch.zeros_like(nxt.reward))
        if keep_batch:
            acts.append(actions.to(env.device)); rews.append(reward)
            terms.append(nxt.terminated & alive); truncs.append(nxt.truncated & ~nxt.terminated & alive)
            filled.append(alive.clone())
        returns += reward
        lengths += alive.long()
        ended = nxt.done & alive
        won |= nxt.battle_won & ended
        alive = alive & ~nxt.done
        step = nxt
        if not bool(alive.any()):
            break
    stats = EpisodeStats(won=won.tolist(), returns=returns.tolist(), lengths=lengths.tolist(),
                         compositions=compositions)
    if not keep_batch:
        return None, stats
    obs.append(step.obs); state.append(step.state); avail.append(step.avail_actions); amask.append(step.agent_mask)
    for k, v in views.items():
        v.append(getattr(step, k))
    batch = EpisodeBatch(
        obs=torch.stack(obs, 1), state=torch.stack(state, 1),            # [B, T+1, ...]
        avail_actions=torch.stack(avail, 1), agent_mask=torch.stack(amask, 1),
        actions=_index_or_vector(torch.stack(acts, 1)), reward=torch.stack(rews, 1),  # [B, T, ...]
        terminated=torch.stack(terms, 1), truncated=torch.stack(truncs, 1), filled=torch.stack(filled, 1),
        **{k: torch.stack(v, 1) for k, v in views.items()},                # [B, T+1, ...] entity view
    )
    return batch, stats


def _index_or_vector(actions: torch.Tensor) -> torch.Tensor:
    """Discrete actions as long indices; continuous action vectors as they are."""
    return actions if actions.is_floating_point() else actions.long()
