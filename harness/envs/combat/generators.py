"""Seeded team-composition generators: fixed maps, REFIL-style count ranges, SMACv2-style weights.

Every generator can enumerate its compositions and sample a batch of them as type-id tensors
(``-1`` marks an empty slot) with a caller-owned ``torch.Generator``, with no loop over the batch.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import torch

from harness.envs.combat.units import UNIT_CODES, UNIT_TYPES, unit_index

# Label order: SMAC writes colossi before stalkers before zealots ("1c3s5z").
_LABEL_ORDER = ("colossus", "stalker", "zealot", "hydralisk", "marine", "marauder", "medivac",
                "zergling", "baneling")


def team_label(types: Sequence[str]) -> str:
    """A readable team label such as ``3s5z`` or ``7m2r1v``."""
    return "".join(f"{types.count(t)}{UNIT_CODES[t]}" for t in _LABEL_ORDER if t in types)


@dataclass(frozen=True)
class Composition:
    """One episode's teams, each a tuple of unit-type names in slot order."""

    allies: tuple[str, ...]
    enemies: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{team_label(self.allies)}_vs_{team_label(self.enemies)}"


def _team_ids(team: Sequence[str], width: int) -> list[int]:
    return [unit_index(t) for t in team] + [-1] * (width - len(team))


class CompositionGenerator:
    """Draws compositions uniformly from an explicit list (the base for fixed and ranged sets)."""

    def __init__(self, compositions: Sequence[Composition]):
        if not compositions:
            raise ValueError("composition generator has no compositions to draw from")
        self._compositions = tuple(compositions)
        self.a_max = max(len(c.allies) for c in compositions)
        self.n_max = max(len(c.enemies) for c in compositions)
        self._tables: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def enumerate(self) -> list[Composition]:
        """Every composition this generator can produce."""
        return list(self._compositions)

    def _table(self, a_width: int, n_width: int, device: torch.device):
        key = (a_width, n_width, str(device))
        if key not in self._tables:
            allies = torch.tensor([_team_ids(c.allies, a_width) for c in self._compositions],
                                  dtype=torch.long, device=device)  # [C, A]
            enemies = torch.tensor([_team_ids(c.enemies, n_width) for c in self._compositions],
                                   dtype=torch.long, device=device)  # [C, N]
            self._tables[key] = (allies, enemies)
        return self._tables[key]

    def sample(self, n: int, generator: torch.Generator, a_width: int, n_width: int,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` compositions as type ids: allies ``[n, a_width]``, enemies ``[n, n_width]``."""
        allies, enemies = self._table(a_width, n_width, device)
        idx = torch.randint(len(self._compositions), (n,), generator=generator, device=device)  # [n]
        return allies[idx], enemies[idx]


def _splits(n: int, parts: int):
    """Every way to write ``n`` as an ordered sum of ``parts`` non-negative counts."""
    if parts == 1:
        yield (n,)
        return
    for first in range(n + 1):
        for rest in _splits(n - first, parts - 1):
            yield (first,) + rest


def ranged_teams(groups: Sequence[tuple[Sequence[str], tuple[int, int]]],
                 sizes: tuple[int, int]) -> list[tuple[str, ...]]:
    """All teams taking a count inside each group's range, split among the group's types in every
    way, with a total size inside ``sizes``."""
    per_group = []
    for types, (lo, hi) in groups:
        options = []
        for n in range(lo, hi + 1):
            for split in _splits(n, len(types)):
                options.append(tuple(itertools.chain.from_iterable([t] * c for t, c in zip(types, split))))
        per_group.append(options)
    teams = []
    for parts in itertools.product(*per_group):
        team = tuple(itertools.chain.from_iterable(parts))
        if sizes[0] <= len(team) <= sizes[1]:
            teams.append(team)
    return teams


def ranged_generator(groups, agents: tuple[int, int], enemies: tuple[int, int] | None) -> CompositionGenerator:
    """REFIL-style: every team in the group ranges; enemies mirror the allies unless given a size range."""
    ally_teams = ranged_teams(groups, agents)
    if enemies is None:
        comps = [Composition(t, t) for t in ally_teams]
    else:
        comps = [Composition(a, e) for a in ally_teams for e in ranged_teams(groups, enemies)]
    return CompositionGenerator(comps)


class WeightedGenerator:
    """SMACv2-style: a uniform team size, then each unit's type drawn i.i.d. from the weights.

    Enemies mirror the allies; with an enemy size range, extra enemies are drawn from the weights.
    """

    def __init__(self, weights: Sequence[tuple[str, float]], agents: tuple[int, int],
                 enemies: tuple[int, int] | None):
        self.types = [name for name, _ in weights]
        self.weights = [float(w) for _, w in weights]
        self.agents, self.enemies = agents, enemies
        self.a_max = agents[1]
        self.n_max = enemies[1] if enemies is not None else agents[1]

    def enumerate(self) -> list[Composition]:
        """Every composition with non-zero probability (unit order canonical)."""
        names = [t for t, w in zip(self.types, self.weights) if w > 0]
        teams = {k: list(itertools.combinations_with_replacement(names, k))
                 for k in range(1, max(self.a_max, self.n_max) + 1)}
        comps = []
        for n_a in range(self.agents[0], self.agents[1] + 1):
            for a in teams[n_a]:
                if self.enemies is None:
                    comps.append(Composition(a, a))
                    continue
                for n_e in range(max(self.enemies[0], 1), self.enemies[1] + 1):
                    extra = n_e - n_a
                    if extra <= 0:
                        comps.append(Composition(a, a[:n_e]))
                    else:
                        comps.extend(Composition(a, a + x) for x in teams[extra])
        return sorted(set(comps), key=lambda c: (len(c.allies), len(c.enemies), c.allies, c.enemies))

    def sample(self, n: int, generator: torch.Generator, a_width: int, n_width: int,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` compositions as type ids (sorted by type within a team), padded with -1."""
        ids = torch.tensor([unit_index(t) for t in self.types], device=device)  # [K]
        w = torch.tensor(self.weights, dtype=torch.float32, device=device)
        width = max(a_width, n_width)
        draws = ids[torch.multinomial(w, n * width, replacement=True, generator=generator)].view(n, width)
        n_a = torch.randint(self.agents[0], self.agents[1] + 1, (n, 1), generator=generator, device=device)
        if self.enemies is None:
            n_e = n_a
        else:
            n_e = torch.randint(self.enemies[0], self.enemies[1] + 1, (n, 1), generator=generator, device=device)
        slot = torch.arange(width, device=device)[None]  # [1, W]
        big = len(UNIT_TYPES)
        allies = torch.where(slot < n_a, draws, big)
        allies_sorted = allies.sort(dim=1).values
        # enemies: the allies' units (mirrored) then extra draws in the slots beyond the allied size
        enemies = torch.where(slot < n_e, torch.where(slot < n_a, allies, draws), big).sort(dim=1).values
        allies_sorted = torch.where(allies_sorted == big, -1, allies_sorted)
        enemies = torch.where(enemies == big, -1, enemies)
        return allies_sorted[:, :a_width], enemies[:, :n_width]
