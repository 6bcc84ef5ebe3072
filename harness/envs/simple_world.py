"""IAC's Simple World: a two-player, one-step continuous task, batched in torch (docs/simple_world.md).

Each of the two agents takes one continuous action ``u_i`` in [-10, 10] (actions outside are
clipped to the bounds). The team reward of the joint action ``x = (u1, u2)`` is the sum of two
isotropic Gaussian bumps, ``h * exp(-|x - mu|^2 / (2 * var))``:

- local optimum:  ``mu = (4, 3)``,   ``var = 5``, height 5  (wide and low);
- global optimum: ``mu = (-6, -6)``, ``var = 2``, height 10 (narrow and high).

The paper gives only the means and variances; the heights are chosen here. With them the reward
is 5.0 at (4, 3) and 10.00000007 at (-6, -6), each centre is a local maximum of the sum (gradient
< 2e-7, Hessian eigenvalues -1 and -5), and a gradient learner starting at the origin (reward 0.41)
climbs the wide bump to the local optimum: only about a quarter of the action box drains to the
global one, so finding it takes coordinated exploration. A uniformly random joint action earns
0.7036 on average (exact, from the error function; 0.7046 by Monte Carlo over 10^6 draws, seed 0).

``battle_won`` marks a joint action that reaches the global bump's basin: a reward above the local
optimum's (5), i.e. within about 1.665 of (-6, -6). The task has no randomness and no dynamics:
each agent observes a constant 1 (``obs_dim`` 1) and the global state is the same constant
(``state_dim`` 1), as in the matrix games. ``n_actions`` is 1 and unused (``avail_actions`` is
``[B, 2, 1]`` all True); the episode ends after its single step.
"""
from __future__ import annotations

import math

import torch

from harness.envs.base import BatchedEnv, CompositionSpec, EnvInfo, EnvStep, check_actions
from harness.envs.registry import ScenarioEntry, register

VERSION = "simple_world 0.1"
NAME = "simple_world"
LOW, HIGH = -10.0, 10.0                  # bounds of each agent's action
LOCAL_CENTRE, LOCAL_VAR, LOCAL_HEIGHT = (4.0, 3.0), 5.0, 5.0
GLOBAL_CENTRE, GLOBAL_VAR, GLOBAL_HEIGHT = (-6.0, -6.0), 2.0, 10.0
OPTIMUM_TOLERANCE = 1.0                  # optimum_of: distance to a centre that still counts as at it
TEAM = "XX"                              # the one composition: two identical agents


def _bump(x: torch.Tensor, centre: tuple[float, float], var: float, height: float) -> torch.Tensor:
    """``height * exp(-|x - centre|^2 / (2 var))`` of joint actions ``x [..., 2]`` -> ``[...]``."""
    d2 = ((x - torch.tensor(centre, dtype=x.dtype, device=x.device)) ** 2).sum(-1)
    return height * torch.exp(-d2 / (2 * var))


def reward(joint_action: torch.Tensor) -> torch.Tensor:
    """The team reward of joint actions ``[..., 2]`` (already within the bounds) -> ``[...]``."""
    return (_bump(joint_action, LOCAL_CENTRE, LOCAL_VAR, LOCAL_HEIGHT)
            + _bump(joint_action, GLOBAL_CENTRE, GLOBAL_VAR, GLOBAL_HEIGHT))


LOCAL_REWARD = float(reward(torch.tensor(LOCAL_CENTRE, dtype=torch.float64)))    # 5.0
GLOBAL_REWARD = float(reward(torch.tensor(GLOBAL_CENTRE, dtype=torch.float64)))  # 10.00000007


def uniform_mean_reward() -> float:
    """The exact mean reward of a joint action drawn uniformly from the action box (about 0.7036)."""
    def mass(centre: tuple[float, float], var: float, height: float) -> float:
        s = math.sqrt(2 * var)
        per_axis = [math.sqrt(math.pi * var / 2) * (math.erf((HIGH - m) / s) - math.erf((LOW - m) / s))
                    for m in centre]
        return height * per_axis[0] * per_axis[1]
    total = mass(LOCAL_CENTRE, LOCAL_VAR, LOCAL_HEIGHT) + mass(GLOBAL_CENTRE, GLOBAL_VAR, GLOBAL_HEIGHT)
    return total / (HIGH - LOW) ** 2


def optimum_of(joint_action: torch.Tensor) -> list[str]:
    """Which optimum ("global", "local" or "none") each joint action ``[N, 2]`` lies at: the nearest
    bump centre if it is within :data:`OPTIMUM_TOLERANCE`, for reports of where learners ended."""
    x = torch.as_tensor(joint_action, dtype=torch.float64).reshape(-1, 2)               # [N, 2]
    centres = torch.tensor([GLOBAL_CENTRE, LOCAL_CENTRE], dtype=torch.float64)           # [2, 2]
    dist = torch.cdist(x, centres)                                                       # [N, 2]
    nearest = dist.argmin(dim=1)                                                         # [N]
    near = dist.gather(1, nearest[:, None]).squeeze(1) <= OPTIMUM_TOLERANCE              # [N]
    labels = ("global", "local")
    return [labels[i] if ok else "none" for i, ok in zip(nearest.tolist(), near.tolist())]


def validate_composition(name: str, spec: CompositionSpec) -> None:
    """Simple World has one composition, two agents; only ``agents: 2`` or ``teams: [[X, X]]`` fit."""
    for key in ("enemies", "units", "weights"):
        if getattr(spec, key) is not None:
            raise ValueError(f"{name!r} has exactly 2 agents and no enemies; {key!r} cannot be set")
    if spec.agents is not None and tuple(spec.agents) != (2, 2):
        raise ValueError(f"{name!r} has exactly 2 agents, got agents {list(spec.agents)}")
    if spec.teams is not None and any(tuple(t) != tuple(TEAM) for t in spec.teams):
        raise ValueError(f"{name!r} has one team, {list(TEAM)}; got {[list(t) for t in spec.teams]}")


class SimpleWorldEnv(BatchedEnv):
    """B copies of Simple World stepped in one tensor op; deterministic, so ``seed`` changes nothing."""

    def __init__(self, *, batch_size: int, device: torch.device, autoreset: bool) -> None:
        self.batch_size = batch_size
        self.device = device
        self.autoreset = autoreset
        self.info = EnvInfo(n_agents=2, n_actions=1, obs_dim=1, state_dim=1, episode_limit=1,
                            simulator=VERSION, continuous_actions=True, action_dim=1,
                            action_low=LOW, action_high=HIGH, has_state=True)
        self._done = torch.zeros(batch_size, dtype=torch.bool, device=device)  # [B]
        self._won = torch.zeros(batch_size, dtype=torch.bool, device=device)   # [B]

    def _observe(self, reward: torch.Tensor, terminated: torch.Tensor, won: torch.Tensor) -> EnvStep:
        B, A, dev = self.batch_size, 2, self.device
        obs = torch.ones(B, A, 1, device=dev)                                    # [B, 2, 1] constant
        return EnvStep(
            obs=obs, state=torch.ones(B, 1, device=dev),                         # [B, 1]
            avail_actions=torch.ones(B, A, 1, dtype=torch.bool, device=dev),     # [B, 2, 1]
            agent_mask=torch.ones(B, A, dtype=torch.bool, device=dev),           # [B, 2]
            reward=reward, terminated=terminated,
            truncated=torch.zeros(B, dtype=torch.bool, device=dev), battle_won=won,
        )

    def reset(self, seed: int | None = None) -> EnvStep:
        self._done.zero_()
        self._won.zero_()
        false = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        return self._observe(torch.zeros(self.batch_size, device=self.device), false, false.clone())

    def step(self, actions: torch.Tensor) -> EnvStep:
        """Actions ``[B, 2, 1]`` float, clipped to [-10, 10]; every live env ends its episode."""
        check_actions(actions, self.batch_size, 2, action_dim=1)
        if not bool(torch.isfinite(actions).all()):
            raise ValueError("simple_world actions must be finite")
        joint = actions.to(self.device, torch.float32).clamp(LOW, HIGH).squeeze(-1)   # [B, 2]
        live = ~self._done                                                            # [B]
        r = reward(joint)                                                             # [B]
        r = torch.where(live, r, torch.zeros_like(r))
        won = live & (r > LOCAL_REWARD)
        if self.autoreset:   # a done env's next step starts the next episode (zero reward, not done)
            self._done = live.clone()
            return self._observe(r, live.clone(), won)
        self._done |= live
        self._won |= won
        return self._observe(r, self._done.clone(), self._won.clone())

    def compositions(self) -> list[str]:
        return [TEAM] * self.batch_size

    def get_state(self) -> dict:
        return {"done": self._done.clone(), "won": self._won.clone()}

    def set_state(self, state: dict) -> None:
        self._done = state["done"].to(self.device).clone()
        self._won = state["won"].to(self.device).clone()


def _factory(name, *, batch_size, device, seed, composition, cover, autoreset):
    if composition is not None:
        validate_composition(name, composition)
    return SimpleWorldEnv(batch_size=batch_size, device=device, autoreset=autoreset)


register(ScenarioEntry(name=NAME, family="continuous", factory=_factory, episode_limit=1,
                       description="IAC's Simple World: two continuous actions, a local and a global optimum",
                       validate_composition=validate_composition))
