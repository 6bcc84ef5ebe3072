"""Scripted policies for tests, benchmarks and rendering: each maps an EnvStep to actions ``[B, A]``."""
from __future__ import annotations

import torch

from harness.envs.base import EnvStep
from harness.envs.combat.env import CombatEnv
from harness.envs.combat.mechanics import N_MOVE, pairwise
from harness.envs.combat.opponent import move_toward, scripted_actions
from harness.envs.combat.units import HEAL


class RandomPolicy:
    """Uniform over each agent's available actions, drawn from its own seeded generator."""

    def __init__(self, env: CombatEnv, seed: int = 0):
        self.rng = torch.Generator(device=env.device)
        self.rng.manual_seed(seed)

    def __call__(self, step: EnvStep) -> torch.Tensor:
        avail = step.avail_actions  # [B, A, n_actions]
        # the arg-max of i.i.d. uniform scores over the available actions is a uniform choice among them
        scores = torch.rand(avail.shape, generator=self.rng, device=avail.device)
        return torch.where(avail, scores, -1.0).argmax(dim=-1)


class ScriptedPolicy:
    """The scripted opponent's heuristic driving the agents (for symmetric self-play checks)."""

    def __init__(self, env: CombatEnv):
        self.env = env

    def __call__(self, step: EnvStep) -> torch.Tensor:
        env = self.env
        delta, dist = pairwise(env.battle.pos)
        actions, memory = scripted_actions(env.battle, env.team, env.a_max, delta, dist, env.rules)
        env.battle.memory = torch.where(env.team == 0, memory, env.battle.memory)
        return _only_available(actions[:, :env.a_max], step)


class FocusFirePolicy:
    """Every agent attacks the enemy with the least health (plus shield) among those it can attack;
    agents with none in range walk toward the closest live enemy; Medivacs follow the scripted heuristic."""

    def __init__(self, env: CombatEnv):
        self.env = env

    def __call__(self, step: EnvStep) -> torch.Tensor:
        env, st = self.env, self.env.battle
        A, N = env.a_max, env.n_max
        hp = (st.health + st.shield)[:, A:]  # [B, N]
        can = step.avail_actions[:, :, N_MOVE:N_MOVE + N]  # [B, A, N]
        score = torch.where(can, hp[:, None, :], torch.full_like(can, float("inf"), dtype=hp.dtype))
        pick = score.argmin(dim=-1) + N_MOVE
        delta, dist = pairwise(st.pos)
        actions = torch.where(can.any(-1), pick, move_toward(_to_closest_enemy(st, A, delta, dist)))
        scripted, _ = scripted_actions(st, env.team, A, delta, dist, env.rules)
        actions = torch.where(st.kind[:, :A] == HEAL, scripted[:, :A], actions)
        return _only_available(actions, step)


class PullBackPolicy(FocusFirePolicy):
    """Focus fire, and an agent that an enemy is attacking steps away from the closest enemy once its
    health falls below ``threshold`` of its maximum: the micro SMAC agents learn against SC2's AI,
    whose units chase their target and stop shooting meanwhile (``Rules.chase_targets``)."""

    def __init__(self, env: CombatEnv, threshold: float = 0.4):
        super().__init__(env)
        self.threshold = threshold

    def __call__(self, step: EnvStep) -> torch.Tensor:
        env, st = self.env, self.env.battle
        A = env.a_max
        actions = super().__call__(step)
        # agent slots that some live enemy keeps as its target
        kept = st.memory[:, A:]  # [B, N]
        hunted = (kept[:, :, None] == torch.arange(A, device=kept.device)) & st.alive[:, A:, None]  # [B, N, A]
        targeted = hunted.any(dim=1)  # [B, A]
        low = st.health[:, :A] < self.threshold * st.max_health[:, :A]
        away = -_to_closest_enemy(st, A, *pairwise(st.pos))
        actions = torch.where(targeted & low & st.alive[:, :A], move_toward(away), actions)
        return _only_available(actions, step)


def _to_closest_enemy(st, A: int, delta: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """Offset from each agent to its closest live enemy ``[B, A, 2]``, from pairwise offsets and distances."""
    d = torch.where(st.alive[:, None, A:], dist[:, :A, A:], torch.full_like(dist[:, :A, A:], float("inf")))
    near = d.argmin(dim=-1)  # [B, A]
    return torch.gather(delta[:, :A, A:], 2, near[..., None, None].expand(-1, -1, 1, 2)).squeeze(2)


def _only_available(actions: torch.Tensor, step: EnvStep) -> torch.Tensor:
    """Replace any unavailable choice by stop (live agents) or no-op (dead or finished ones)."""
    ok = torch.gather(step.avail_actions, 2, actions[..., None]).squeeze(-1)
    fallback = torch.where(step.avail_actions[..., 1], 1, 0)
    return torch.where(ok, actions, fallback)
