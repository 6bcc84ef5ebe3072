"""One-step cooperative matrix games used by the papers' diagnostics, batched in torch.

- ``iac_matrix``: IAC's Table 1 game, 2 agents × 3 actions, payoff [[8,-12,-12],[-12,0,0],[-12,0,0]];
  value factorisation trained on uniformly visited joint actions settles on a sub-optimal joint action.
- ``climbing`` (Claus & Boutilier): [[11,-30,0],[-30,7,6],[0,0,5]]; ``penalty`` (k = -100):
  [[-100,0,10],[0,2,0],[10,0,-100]].
- ``mipi_matrix``: MIPI's two-type game (payoffs designed here, the paper gives them only in a figure):
  two agents with actions {0, 1} and types {A, B}; training compositions (A,B) and (B,A), evaluation on
  (B,B). Each composition has a different optimal joint action, and (0,0) pays the same (5) in all three:

      (A,B): [[5, 8], [0, 0]]  optimal (0,1)      (B,A): [[5, 0], [8, 0]]  optimal (1,0)
      (B,B): [[5, 0], [0, -10]] optimal (0,0)

  A policy that keys its action on the team composition learns "type B plays 1" from training and
  scores -10 on (B,B); the composition-agnostic action (0,0) scores 5 everywhere.

``battle_won`` marks the optimal joint action of the episode's composition, so the win rate of a
matrix game is the fraction of episodes that reach the optimum. Observations: each agent sees its own
type and its teammate's type one-hot (mipi_matrix) or a constant 1 (the single-composition games);
the state is the same vector as agent 0's observation.

Typed games also have an entity view (entity algorithms, MIPI): the two agents are the entities, each
with its seat (first or second player, one-hot) and its type (one-hot), and each agent sees both. An
agent's team-unrelated information (MIPI's s_i^+, ``EnvInfo.own_features``) is its seat; the types are
the team composition, the information MIPI's mutual-information term regularises. Counting an agent's
own type as team-unrelated would make that term vanish on every training state: in (A,B) and (B,A) an
agent's own type fixes its teammate's.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from harness.envs.base import BatchedEnv, CompositionSpec, EnvInfo, EnvStep, check_actions
from harness.envs.registry import ScenarioEntry, register

VERSION = "matrix 0.1"


@dataclass(frozen=True)
class MatrixGame:
    """A cooperative matrix game: one payoff table per team composition (a tuple of type names)."""

    name: str
    payoffs: dict[tuple[str, ...], list[list[float]]]
    default_teams: tuple[tuple[str, ...], ...]
    types: tuple[str, ...]
    description: str

    @property
    def n_actions(self) -> int:
        return len(next(iter(self.payoffs.values())))

    @property
    def typed(self) -> bool:
        return len(self.types) > 1


GAMES = {
    g.name: g
    for g in (
        MatrixGame("iac_matrix", {("X", "X"): [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]]},
                   (("X", "X"),), ("X",), "IAC's 3-action coordination game (Table 1)"),
        MatrixGame("climbing", {("X", "X"): [[11, -30, 0], [-30, 7, 6], [0, 0, 5]]},
                   (("X", "X"),), ("X",), "Climbing game (Claus & Boutilier 1998)"),
        MatrixGame("penalty", {("X", "X"): [[-100, 0, 10], [0, 2, 0], [10, 0, -100]]},
                   (("X", "X"),), ("X",), "Penalty game with k = -100"),
        MatrixGame("mipi_matrix",
                   {("A", "B"): [[5, 8], [0, 0]], ("B", "A"): [[5, 0], [8, 0]],
                    ("B", "B"): [[5, 0], [0, -10]], ("A", "A"): [[5, 0], [0, 0]]},
                   (("A", "B"), ("B", "A")), ("A", "B"),
                   "MIPI's two-type game: train on (A,B),(B,A), evaluate on (B,B)"),
    )
}


def _teams(game: MatrixGame, spec: CompositionSpec | None) -> tuple[tuple[str, ...], ...]:
    if spec is None or spec.teams is None:
        return game.default_teams
    return tuple(tuple(t) for t in spec.teams)


def validate_composition(name: str, spec: CompositionSpec) -> None:
    """Matrix games take explicit two-agent teams of the game's types (``teams:``) and nothing else."""
    validate_game_composition(GAMES[name], spec)


def validate_game_composition(game: MatrixGame, spec: CompositionSpec) -> None:
    """:func:`validate_composition` for a game given as data (a registered variant's)."""
    name = game.name
    for key in ("agents", "enemies", "units", "weights"):
        if getattr(spec, key) is not None and not (key == "agents" and tuple(spec.agents) == (2, 2)):
            raise ValueError(f"matrix game {name!r} has exactly 2 agents; only 'teams' may be set, not {key!r}")
    allowed = sorted("".join(t) for t in game.payoffs)
    for team in _teams(game, spec):
        if tuple(team) not in game.payoffs:
            raise ValueError(f"team {list(team)} is not a composition of {name!r}; allowed: {allowed}")


def game_labels(game: MatrixGame, spec: CompositionSpec | None) -> list[str]:
    """The label of every team ``spec`` draws (``AB``), as :meth:`MatrixEnv.compositions` writes them."""
    return ["".join(t) for t in _teams(game, spec)]


class MatrixEnv(BatchedEnv):
    """B independent copies of a one-step matrix game; each draws its composition per episode."""

    def __init__(self, game: MatrixGame, *, batch_size: int, device: torch.device, seed: int,
                 composition: CompositionSpec | None, autoreset: bool) -> None:
        self.game = game
        self.batch_size = batch_size
        self.device = device
        self.autoreset = autoreset
        self.teams = _teams(game, composition)
        n_types = len(game.types)
        obs_dim = 2 * n_types if game.typed else 1
        entity = {"n_entities": 2, "entity_dim": 2 + n_types, "own_features": (0, 1)} if game.typed else {}
        self.info = EnvInfo(n_agents=2, n_actions=game.n_actions, obs_dim=obs_dim, state_dim=obs_dim,
                            episode_limit=1, simulator=VERSION, **entity)
        # [n_teams, n_actions, n_actions] payoff of each team composition
        self._payoff = torch.tensor([game.payoffs[t] for t in self.teams], dtype=torch.float32, device=device)
        self._best = self._payoff.flatten(1).max(dim=1).values  # [n_teams]
        type_index = {t: i for i, t in enumerate(game.types)}
        self._team_types = torch.tensor([[type_index[x] for x in t] for t in self.teams], device=device)  # [n_teams, 2]
        self._gen = torch.Generator(device="cpu")
        self._gen.manual_seed(seed)
        self._team = torch.zeros(batch_size, dtype=torch.long, device=device)  # [B]
        self._done = torch.zeros(batch_size, dtype=torch.bool, device=device)   # [B]
        self._won = torch.zeros(batch_size, dtype=torch.bool, device=device)    # [B]

    def _draw_teams(self, n: int) -> torch.Tensor:
        return torch.randint(len(self.teams), (n,), generator=self._gen).to(self.device)

    def _observe(self, reward, terminated, won) -> EnvStep:
        B, A = self.batch_size, 2
        if self.game.typed:
            types = self._team_types[self._team]                                  # [B, 2]
            n = len(self.game.types)
            onehot = torch.nn.functional.one_hot(types, n).float()                # [B, 2, n]
            obs = torch.cat([onehot, onehot.flip(1)], dim=-1)                     # [B, 2, 2n] own, mate
        else:
            obs = torch.ones(B, A, 1, device=self.device)                          # [B, 2, 1]
        avail = torch.ones(B, A, self.game.n_actions, dtype=torch.bool, device=self.device)
        view = {}
        if self.game.typed:
            seats = torch.eye(A, device=self.device).expand(B, A, A)               # [B, 2, 2]
            view = {"entities": torch.cat([seats, onehot], dim=-1),                 # [B, 2, 2 + n]
                    "entity_mask": torch.ones(B, A, dtype=torch.bool, device=self.device),
                    "obs_mask": torch.ones(B, A, A, dtype=torch.bool, device=self.device)}
        return EnvStep(
            obs=obs, state=obs[:, 0].clone(), avail_actions=avail,
            agent_mask=torch.ones(B, A, dtype=torch.bool, device=self.device),
            reward=reward, terminated=terminated,
            truncated=torch.zeros(B, dtype=torch.bool, device=self.device), battle_won=won, **view,
        )

    def reset(self, seed: int | None = None) -> EnvStep:
        if seed is not None:
            self._gen.manual_seed(seed)
        self._team = self._draw_teams(self.batch_size)
        self._done.zero_()
        self._won.zero_()
        zeros = torch.zeros(self.batch_size, device=self.device)
        false = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        return self._observe(zeros, false, false)

    def step(self, actions: torch.Tensor) -> EnvStep:
        check_actions(actions, self.batch_size, 2)
        actions = actions.to(self.device).long()
        if ((actions < 0) | (actions >= self.game.n_actions)).any():
            raise ValueError(f"actions must lie in [0, {self.game.n_actions}) for {self.game.name!r}")
        live = ~self._done
        if self.autoreset and bool(self._done.any()):   # the step after an end starts the next game
            self._team = torch.where(self._done, self._draw_teams(self.batch_size), self._team)
        payoff = self._payoff[self._team, actions[:, 0], actions[:, 1]]             # [B]
        reward = torch.where(live, payoff, torch.zeros_like(payoff))
        won = live & (payoff >= self._best[self._team])
        terminated = live.clone()
        if self.autoreset:
            self._done = terminated
            return self._observe(reward, terminated, won)
        self._done |= terminated
        self._won |= won
        return self._observe(reward, self._done.clone(), self._won.clone())

    def compositions(self) -> list[str]:
        return ["".join(self.teams[i]) for i in self._team.tolist()]

    def get_state(self) -> dict:
        return {"team": self._team, "done": self._done, "won": self._won, "gen": self._gen.get_state()}

    def set_state(self, state: dict) -> None:
        self._team, self._done, self._won = state["team"], state["done"], state["won"]
        self._gen.set_state(state["gen"])


def _factory(name, *, batch_size, device, seed, composition, cover, autoreset):
    if composition is not None:
        validate_composition(name, composition)
    return MatrixEnv(GAMES[name], batch_size=batch_size, device=device, seed=seed,
                     composition=composition, autoreset=autoreset)


def scenario_entry(game: MatrixGame) -> ScenarioEntry:
    """A registry entry for a matrix game given as data, for a game outside :data:`GAMES` (a plug-in's
    variant: ``docs/plugins.md``); built like the built-in games' entries."""

    def factory(name, *, batch_size, device, seed, composition, cover, autoreset) -> MatrixEnv:
        if composition is not None:
            validate_game_composition(game, composition)
        return MatrixEnv(game, batch_size=batch_size, device=device, seed=seed,
                         composition=composition, autoreset=autoreset)

    return ScenarioEntry(name=game.name, family="matrix", factory=factory, episode_limit=1,
                         description=game.description,
                         validate_composition=lambda name, spec: validate_game_composition(game, spec),
                         enumerate_compositions=lambda name, spec: game_labels(game, spec))


def joint_actions(n_actions: int) -> list[tuple[int, int]]:
    """All joint actions of a two-agent game, row-major."""
    return list(itertools.product(range(n_actions), repeat=2))


for _game in GAMES.values():
    register(ScenarioEntry(name=_game.name, family="matrix", factory=_factory, episode_limit=1,
                           description=_game.description, validate_composition=validate_composition,
                           enumerate_compositions=lambda name, spec: game_labels(GAMES[name], spec)))
