"""A small deterministic ``StarCraft2Env`` following SMAC's documented API (tests only).

Allies and enemies stand still and shoot. Action 0 is no-op (dead agents only), 1 stop, 2-5 moves
(which do nothing here), ``6 + j`` attacks enemy j. Each live enemy deals ``enemy_damage`` to the
first live ally every step. Rewards are damage dealt plus a bonus per kill and for winning. As in
SMAC, ``info["episode_limit"]`` is only reported when ``continuing_episode=True``.
"""
from __future__ import annotations

import numpy as np

N_NO_ATTACK = 6
ALLY_HEALTH = 5.0
MAPS = {
    # name: (n_agents, n_enemies, episode_limit, enemy_damage)
    "3m": (3, 3, 60, 1.0),
    "8m": (8, 8, 120, 1.0),
    "2s3z": (5, 5, 120, 1.0),
    "passive_2v2": (2, 2, 5, 0.0),  # enemies never shoot: ends by the time limit unless attacked
}


class StarCraft2Env:
    """Deterministic stand-in for ``smac.env.StarCraft2Env``; records every instance it creates."""

    instances: list["StarCraft2Env"] = []

    def __init__(self, map_name="8m", seed=None, continuing_episode=False, **kwargs):
        if map_name not in MAPS:
            raise KeyError(map_name)
        self.map_name = map_name
        self.n_agents, self.n_enemies, self.episode_limit, self._enemy_damage = MAPS[map_name]
        self.n_actions = N_NO_ATTACK + self.n_enemies
        self._seed = seed
        self.continuing_episode = continuing_episode
        self.kwargs = kwargs
        self.resets = 0
        self.closed = False
        self._episode_steps = 0
        self.ally_health = np.zeros(self.n_agents)
        self.enemy_health = np.zeros(self.n_enemies)
        StarCraft2Env.instances.append(self)

    def reset(self):
        """Start an episode; enemy health (2 or 3) is drawn from the seed, as a game seed would."""
        self.resets += 1
        rng = np.random.default_rng(self._seed)
        self.ally_health = np.full(self.n_agents, ALLY_HEALTH)
        self.enemy_health = 2.0 + rng.integers(0, 2, size=self.n_enemies)
        self._episode_steps = 0
        return self.get_obs(), self.get_state()

    def step(self, actions):
        """Returns reward, terminated, info."""
        avail = self.get_avail_actions()
        reward = 0.0
        for a_id, action in enumerate(int(a) for a in actions):
            assert avail[a_id][action] == 1, f"Agent {a_id} cannot perform action {action}"
            if action >= N_NO_ATTACK:
                target = action - N_NO_ATTACK
                if self.enemy_health[target] > 0:
                    self.enemy_health[target] -= 1.0
                    reward += 1.0 + (10.0 if self.enemy_health[target] == 0 else 0.0)
        for _ in range(int((self.enemy_health > 0).sum())):
            alive = np.flatnonzero(self.ally_health > 0)
            if alive.size:
                hit = alive[0]
                self.ally_health[hit] = max(0.0, self.ally_health[hit] - self._enemy_damage)
        self._episode_steps += 1

        info = {
            "battle_won": False,
            "dead_allies": int((self.ally_health == 0).sum()),
            "dead_enemies": int((self.enemy_health == 0).sum()),
        }
        terminated = False
        if (self.enemy_health == 0).all():
            terminated = True
            info["battle_won"] = True
            reward += 20.0
        elif (self.ally_health == 0).all():
            terminated = True
        elif self._episode_steps >= self.episode_limit:
            terminated = True
            if self.continuing_episode:
                info["episode_limit"] = True
        return reward, terminated, info

    def get_obs(self):
        """Per agent: own health, every enemy's health, every ally's health (all in [0, 1])."""
        enemies = self.enemy_health / 3.0
        allies = self.ally_health / ALLY_HEALTH
        return [
            np.concatenate([[allies[a]], enemies, allies]).astype(np.float32)
            for a in range(self.n_agents)
        ]

    def get_obs_size(self):
        return 1 + self.n_enemies + self.n_agents

    def get_state(self):
        return np.concatenate([self.ally_health / ALLY_HEALTH, self.enemy_health / 3.0]).astype(
            np.float32
        )

    def get_state_size(self):
        return self.n_agents + self.n_enemies

    def get_avail_agent_actions(self, agent_id):
        if self.ally_health[agent_id] <= 0:
            return [1] + [0] * (self.n_actions - 1)
        return [0] + [1] * 5 + [int(h > 0) for h in self.enemy_health]

    def get_avail_actions(self):
        return [self.get_avail_agent_actions(a) for a in range(self.n_agents)]

    def get_total_actions(self):
        return self.n_actions

    def get_env_info(self):
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

    def seed(self):
        return self._seed

    def close(self):
        self.closed = True


__all__ = ["StarCraft2Env"]
