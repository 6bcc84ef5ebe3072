"""RenderFrame: a snapshot of one combat environment, the contract between simulator and renderer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RenderFrame:
    """All units of one environment at one agent step (allies first, then enemies)."""

    map_size: tuple[float, float]   # (width, height) in world units
    positions: np.ndarray           # [U, 2] float
    health: np.ndarray              # [U] float, current hit points
    max_health: np.ndarray          # [U] float
    shield: np.ndarray              # [U] float, current shield (0 if none)
    max_shield: np.ndarray          # [U] float
    team: np.ndarray                # [U] int, 0 = controlled agents, 1 = scripted opponent
    unit_type: tuple[str, ...]      # U names, e.g. "marine"
    radius: np.ndarray              # [U] float
    alive: np.ndarray               # [U] bool
    attack_target: np.ndarray       # [U] int, index of the unit attacked/healed this step, -1 if none
    step: int = 0
