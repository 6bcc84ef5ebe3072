"""CombatEnv: B StarCraft-style battles stepped together as tensor ops on one device.

Agents control the allied team (slots ``0..A-1``); a scripted opponent controls the enemies
(slots ``A..A+N-1``) unless the caller passes ``enemy_actions``. Actions follow SMAC's layout.
"""
from __future__ import annotations

import types
from dataclasses import fields, replace
from typing import Sequence

import numpy as np
import torch

from harness.envs.base import BatchedEnv, EnvInfo, EnvStep, check_actions
from harness.envs.combat.generators import Composition, CompositionGenerator, WeightedGenerator, team_label
from harness.envs.combat.mechanics import N_MOVE, BattleState, Rules, direction_table, new_state, push_apart
from harness.envs.combat.fused import Carry, Reserve, Statics, fused_step
from harness.envs.combat.transition import episode_max_reward
from harness.envs.combat.observations import Layout, all_views, type_bits
from harness.envs.combat.render_frame import RenderFrame
from harness.envs.combat.units import EXPLODE, LINE, UNIT_TYPES, PROFILES, UnitTable, check_profile, unit_index

SIMULATOR_VERSION = "0.2"


_COMPILED: dict[tuple, object] = {}  # (function, env signature) -> compiled private copy


def _compiled(fn, signature: tuple):
    """``fn`` through torch.compile for fixed shapes, on a copy of its code private to ``signature``.

    Dynamo keeps one cache per code object, with room for 8 graphs; every compiled env of a process
    (a run's training and evaluation envs, the runs of an inline suite) would share it and, past 8
    batch shapes or scenarios, fall back to eager steps. Envs with equal signatures (shapes and
    statics) share one copy, so they compile once. Inductor's CPU code vectorises the innermost
    dimension; ours are unit counts (3 to 60), far below or just above a SIMD width, and its masked
    tail loops made compiled steps 2-3x slower than plain vector-width loops with a scalar tail."""
    key = (fn.__module__, fn.__qualname__, signature)
    if key not in _COMPILED:
        private = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__,
                                     fn.__closure__)
        private.__kwdefaults__, private.__doc__ = fn.__kwdefaults__, fn.__doc__
        _COMPILED[key] = torch.compile(private, dynamic=False, options={"cpp.enable_loop_tail_vec": False})
    return _COMPILED[key]


def _place(utype: torch.Tensor, pos: torch.Tensor, home: torch.Tensor, table: UnitTable, rules: Rules,
           separation_passes: int) -> BattleState:
    """Fresh battles of unit types ``utype [B, U]`` (-1 empty) at ``pos``, overlaps pushed apart."""
    state = new_state(utype, pos, table, home.expand(utype.shape[0], -1, -1).clone())
    for _ in range(separation_passes):
        state.pos = push_apart(state, rules)
    return state


def _cat(items: list):
    """Batches of the same dataclass (tensors on dim 0, nested dataclasses alike) as one batch."""
    first = items[0]
    if torch.is_tensor(first):
        return torch.cat(items) if first.dim() > 0 else first
    if first is None:
        return None
    return type(first)(**{f.name: _cat([getattr(x, f.name) for x in items]) for f in fields(first)})


def _slice(item, cut: slice):
    """Rows ``cut`` of a batch made by :func:`_cat`."""
    if torch.is_tensor(item):
        return item[cut] if item.dim() > 0 else item
    if item is None:
        return None
    return type(item)(**{f.name: _slice(getattr(item, f.name), cut) for f in fields(item)})


class CombatEnv(BatchedEnv):
    """Batched combat simulator; see docs/combat.md for mechanics, figures and differences to SMAC/SMAX.

    ``invalid_actions``: "raise" (ValueError naming the env, agent and allowed actions) or "stop"
    (an unavailable action becomes stop for live agents and no-op for dead ones).
    ``entity_view=False`` leaves the entity view out of every step (``entities`` etc. are None).
    ``reserve_size``: with autoreset, how many fresh battles are drawn at a time (default max(2B, 64)).
    """

    def __init__(self, name: str, generator: CompositionGenerator | WeightedGenerator, *, batch_size: int,
                 device: torch.device | str = "cpu", seed: int = 0, a_max: int, n_max: int,
                 unit_types: Sequence[str], episode_limit: int, map_size: float = 32.0,
                 rules: Rules = Rules(), autoreset: bool = False, obs_last_action: bool = False,
                 state_last_action: bool = True, entity_tags: bool = False, invalid_actions: str = "raise",
                 compile: bool = False, entity_view: bool = True, reserve_size: int | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if reserve_size is not None and reserve_size < batch_size:
            raise ValueError(f"reserve_size must be >= batch_size={batch_size}, got {reserve_size}")
        if invalid_actions not in ("raise", "stop"):
            raise ValueError(f"invalid_actions must be 'raise' or 'stop', got {invalid_actions!r}")
        check_profile(rules.profile, tuple(unit_types))
        self.name, self.batch_size, self.device = name, batch_size, torch.device(device)
        self.rules, self.autoreset, self.invalid_actions = rules, autoreset, invalid_actions
        self.generator_spec = generator
        self.map_size, self.episode_limit = float(map_size), episode_limit
        self.a_max, self.n_max = a_max, n_max
        heals = "medivac" in unit_types
        n_actions = N_MOVE + (max(n_max, a_max) if heals else n_max)
        shields = any(PROFILES[rules.profile][t].shield > 0 for t in unit_types)
        self.layout = Layout(a_max, n_max, n_actions, tuple(unit_types), shields, self.map_size,
                             obs_last_action, state_last_action, entity_tags, heals)
        self._enemy_layout = Layout(a_max, n_max, N_MOVE + max(a_max, n_max), tuple(unit_types), shields,
                                    self.map_size, heals=heals)
        kinds = {PROFILES[rules.profile][t].kind for t in unit_types}
        self.splash_kinds = (LINE in kinds, EXPLODE in kinds)  # (line splash, explosions) possible
        self.heals = heals  # healing possible
        self.table = UnitTable(rules.profile, self.device)
        self.team = torch.cat([torch.zeros(a_max, dtype=torch.long), torch.ones(n_max, dtype=torch.long)]).to(
            self.device)  # [U]
        W = self.map_size
        left, right = torch.tensor([W / 4, W / 2]), torch.tensor([3 * W / 4, W / 2])
        ally = (self.team == 0).cpu()[:, None]
        self._centre = torch.where(ally, left, right).to(self.device)  # [U, 2]: each team starts on its side
        self._home = torch.where(ally, right, left).to(self.device)  # [U, 2]: and heads for the other
        self._statics = Statics(rules, self.layout, self._enemy_layout, a_max, n_max, self.map_size,
                                self.splash_kinds, episode_limit, entity_view, invalid_actions == "stop",
                                self.table, self._home, self.team, direction_table(rules, self.device))
        # compile=True makes one graph of a whole step with torch.compile (faster from B of about 8;
        # each process compiles on its first step and reset, tens of seconds)
        self._reserve_size = reserve_size or max(2 * batch_size, 64)
        signature = (batch_size, self._reserve_size, str(self.device), self._statics.constants())
        self._compile = compile
        self._fused = _compiled(fused_step, signature) if compile else fused_step
        self._all_views = _compiled(all_views, signature) if compile else all_views
        self._place = _compiled(_place, signature) if compile else _place  # for the reserve (one batch shape)
        self._together = None if autoreset else ("combat", name, batch_size, str(self.device), compile,
                                                 self._statics.constants())
        self._reserve: Reserve | None = None
        self.rng = torch.Generator(device=self.device)
        self.rng.manual_seed(seed)
        self.info = EnvInfo(n_agents=a_max, n_actions=n_actions, obs_dim=self.layout.obs_dim,
                            state_dim=self.layout.state_dim, episode_limit=episode_limit,
                            n_entities=self.layout.n_entities, entity_dim=self.layout.entity_dim,
                            simulator=f"combat {SIMULATOR_VERSION}")
        self._carry: Carry | None = None

    @property
    def battle(self) -> BattleState | None:
        """The current state of all B battles (None before the first reset)."""
        return None if self._carry is None else self._carry.battle

    @battle.setter
    def battle(self, state: BattleState) -> None:
        """Replace the battles' state (tests and tools); action masks and geometry follow it."""
        if self._carry is None:
            raise RuntimeError("call reset() before setting the battle state")
        c = self._carry
        v = self._views_of(state, c.bits, c.tags, c.terminated | c.truncated)
        self._carry = replace(c, battle=state, delta=v["delta"], dist=v["dist"], avail=v["avail"],
                              enemy_avail=v["enemy_avail"])

    def _views_of(self, state: BattleState, bits: torch.Tensor, tags: torch.Tensor | None,
                  done: torch.Tensor) -> dict:
        """Every view of ``state`` outside a step (after a reset, or a state set by hand)."""
        return self._all_views(state, self.team, self.layout, self._enemy_layout, self.rules, bits, tags, done,
                               self._statics.entity_view)

    # ----------------------------------------------------------------------------- episodes
    def _spawn(self, allies: torch.Tensor, enemies: torch.Tensor, pos: torch.Tensor | None = None,
               separation_passes: int = 4, place=None) -> BattleState:
        """New battles for type ids ``allies [B, A]``, ``enemies [B, N]``; random positions unless given;
        overlapping units are then pushed apart ``separation_passes`` times (by ``place``, default eager)."""
        utype = torch.cat([allies, enemies], dim=1)  # [B, U]
        if pos is None:
            count = torch.maximum((allies >= 0).sum(1), (enemies >= 0).sum(1)).to(torch.float32)  # [B]
            spread = (2.0 + 0.25 * count.sqrt())[:, None, None]
            noise = torch.rand(utype.shape[0], utype.shape[1], 2, generator=self.rng, device=self.device) * 2 - 1
            pos = self._centre + noise * spread  # [B, U, 2]
        return (place or _place)(utype, pos.to(self.device), self._home, self.table, self.rules, separation_passes)

    def _sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.generator_spec.sample(n, self.rng, self.a_max, self.n_max, self.device)

    def reset(self, seed: int | None = None) -> EnvStep:
        """Start new episodes in all B battles with compositions drawn from the generator."""
        if seed is not None:
            self.rng.manual_seed(seed)
        with torch.no_grad():
            allies, enemies = self._sample(self.batch_size)
            return self._begin(self._spawn(allies, enemies))

    def reset_to(self, compositions: Composition | Sequence[Composition],
                 positions: torch.Tensor | None = None, separation_passes: int = 1) -> EnvStep:
        """Start episodes with explicit teams (one composition for all B, or one per battle) and,
        optionally, explicit unit positions ``[B, A+N, 2]`` in slot order (allies padded to A first),
        then push overlapping units apart ``separation_passes`` times (SMAX's reset does it once)."""
        comps = [compositions] * self.batch_size if isinstance(compositions, Composition) else list(compositions)
        if len(comps) != self.batch_size:
            raise ValueError(f"reset_to needs 1 or B={self.batch_size} compositions, got {len(comps)}")
        for c in comps:
            if len(c.allies) > self.a_max or len(c.enemies) > self.n_max or not c.allies or not c.enemies:
                raise ValueError(f"composition {c.label} does not fit the padding A={self.a_max}, N={self.n_max}")
            for t in c.allies + c.enemies:
                unit_index(t)
            check_profile(self.rules.profile, tuple(c.allies + c.enemies))
            foreign = sorted(set(c.allies + c.enemies) - set(self.layout.unit_types))
            if foreign:
                raise ValueError(f"scenario {self.name!r} has unit types {', '.join(self.layout.unit_types)}; "
                                 f"got {', '.join(foreign)}")
        allies = torch.tensor([[unit_index(t) for t in c.allies] + [-1] * (self.a_max - len(c.allies))
                               for c in comps], device=self.device)
        enemies = torch.tensor([[unit_index(t) for t in c.enemies] + [-1] * (self.n_max - len(c.enemies))
                                for c in comps], device=self.device)
        if positions is not None and tuple(positions.shape) != (self.batch_size, self.a_max + self.n_max, 2):
            raise ValueError(f"positions must have shape [B={self.batch_size}, U={self.a_max + self.n_max}, 2], "
                             f"got {list(positions.shape)}")
        with torch.no_grad():
            return self._begin(self._spawn(allies, enemies, positions, separation_passes))

    def _begin(self, state: BattleState) -> EnvStep:
        B = self.batch_size
        bits, tags = type_bits(state, self.layout), self._draw_tags(B)
        no = torch.zeros(B, dtype=torch.bool, device=self.device)
        v = self._views_of(state, bits, tags, no)
        self._carry = Carry(state, bits, tags, episode_max_reward(state, self.a_max), no, no.clone(), no.clone(),
                            v["delta"], v["dist"], v["avail"], v["enemy_avail"])
        if self.autoreset:
            self._refill()
        return self._env_step(v, torch.zeros(B, device=self.device), self._carry)

    def _refill(self) -> None:
        """A new reserve of fresh battles for autoreset, drawn from the generator."""
        P = self._reserve_size
        fresh = self._spawn(*self._sample(P), place=self._place)
        self._reserve = Reserve(torch.where(fresh.exists, fresh.utype, -1), fresh.pos, self._draw_tags(P),
                                torch.zeros((), dtype=torch.long, device=self.device))

    def _draw_tags(self, n: int) -> torch.Tensor | None:
        if not self.layout.entity_tags:
            return None
        E = self.layout.n_entities
        perm = torch.rand(n, E, generator=self.rng, device=self.device).argsort(dim=1)  # [n, E]
        return torch.nn.functional.one_hot(perm, E).to(torch.float32)

    # ----------------------------------------------------------------------------- stepping
    def step(self, actions: torch.Tensor, enemy_actions: torch.Tensor | None = None) -> EnvStep:
        """Advance all B battles by one agent step (``ticks_per_step`` world ticks).

        ``enemy_actions [B, N]`` (same layout, target j = agent slot j) replaces the scripted opponent.
        With autoreset, a battle that was already over starts its next episode instead.
        """
        if self._carry is None:
            raise RuntimeError("call reset() before step()")
        check_actions(actions, self.batch_size, self.a_max)
        if enemy_actions is not None:
            check_actions(enemy_actions, self.batch_size, self.n_max)
        with torch.no_grad():
            return self._step(actions.to(self.device, torch.long),
                              None if enemy_actions is None else enemy_actions.to(self.device, torch.long))

    def _noise(self) -> torch.Tensor | None:
        """This step's cooldown jitter ``[T, B, U]`` from the env's own generator (None: rule off)."""
        if not self.rules.cooldown_jitter:
            return None
        return torch.rand(self.rules.ticks_per_step, self.batch_size, self.a_max + self.n_max,
                          generator=self.rng, device=self.device)

    def together_key(self) -> tuple | None:
        """Envs with equal keys can step as one batch (:meth:`step_together`); None for autoresetting
        ones (their reserves of fresh battles are their own)."""
        return self._together

    @staticmethod
    def step_together(envs: Sequence["CombatEnv"], actions: Sequence[torch.Tensor]) -> list[EnvStep]:
        """Step several envs of one :meth:`together_key` as one batch of their battles: each draws its
        randomness from its own generator as its own ``step`` would, so each gets the ``EnvStep`` it
        would get stepped alone (a run group's environments; see docs/run_groups.md)."""
        first = envs[0]
        if len({env.together_key() for env in envs}) != 1 or first.together_key() is None:
            raise ValueError("step_together needs envs of one together_key (same scenario, options and "
                             "batch size, no autoreset)")
        for env, a in zip(envs, actions):
            if env._carry is None:
                raise RuntimeError("call reset() before step()")
            check_actions(a, env.batch_size, env.a_max)
        with torch.no_grad():
            acts = [a.to(first.device, torch.long) for a in actions]
            noises = [env._noise() for env in envs]
            noise = None if noises[0] is None else torch.cat(noises, dim=1)          # [T, R*B, U]
            carry = _cat([env._carry for env in envs])
            fused = first._fused_for(len(envs))
            new, _, v, reward, bad, _ = fused(carry, torch.cat(acts), None, noise, None, first._statics)
            B = first.batch_size
            parts = []
            for i, env in enumerate(envs):
                cut = slice(i * B, (i + 1) * B)
                if not first._statics.fallback_invalid:   # reject before anything changes
                    env._reject(acts[i], bad[cut], env._carry.avail, "agent")
                parts.append((_slice(new, cut), {k: None if x is None else x[cut] for k, x in v.items()},
                              reward[cut]))
            out = []
            for env, (carry_i, v_i, reward_i) in zip(envs, parts):
                env._carry = carry_i
                out.append(env._env_step(v_i, reward_i, carry_i))
            return out

    def _fused_for(self, n: int):
        """The fused step for ``n`` of these envs' batches at once (compiled per batch size)."""
        if not self._compile or n == 1:
            return self._fused
        return _compiled(fused_step, (n * self.batch_size, self._reserve_size, str(self.device),
                                      self._statics.constants()))

    def _step(self, actions: torch.Tensor, enemy_actions: torch.Tensor | None) -> EnvStep:
        if self._reserve is not None and int(self._reserve.cursor) > self._reserve_size - self.batch_size:
            self._refill()  # enough fresh battles left for every battle to restart in this step
        noise = self._noise()  # [T, B, U]
        carry, reserve, v, reward, bad, enemy_bad = self._fused(
            self._carry, actions, enemy_actions, noise, self._reserve, self._statics)
        if not self._statics.fallback_invalid:  # reject the step before anything changes
            self._reject(actions, bad, self._carry.avail, "agent")
            if enemy_bad is not None:
                self._reject(enemy_actions, enemy_bad, self._carry.enemy_avail, "enemy")
        self._carry, self._reserve = carry, reserve
        return self._env_step(v, reward, carry)

    @staticmethod
    def _reject(actions: torch.Tensor, bad: torch.Tensor, avail: torch.Tensor, who: str) -> None:
        if bool(bad.any()):
            b, a = (int(x) for x in bad.nonzero()[0])
            allowed = avail[b, a].nonzero().flatten().tolist()
            raise ValueError(f"{who} action {int(actions[b, a])} of env {b}, agent {a} is not available; "
                             f"available actions: {allowed} (0 no-op, 1 stop, 2-5 move N/S/E/W, 6+ target)")

    def _env_step(self, v: dict, reward: torch.Tensor, carry: Carry) -> EnvStep:
        info = {"dead_allies": v["dead_allies"], "dead_enemies": v["dead_enemies"],
                "episode_step": carry.battle.t.clone()}
        return EnvStep(obs=v["obs"], state=v["state"], avail_actions=carry.avail.clone(), agent_mask=v["agent_mask"],
                       reward=reward.to(torch.float32), terminated=carry.terminated.clone(),
                       truncated=carry.truncated.clone(), battle_won=carry.won.clone(), entities=v["entities"],
                       entity_mask=v["entity_mask"], obs_mask=v["obs_mask"], info=info)

    def get_state(self) -> dict:
        """The battles, the autoreset reserve and the random generator (tensors, for torch.save)."""
        return {"carry": self._carry, "reserve": self._reserve, "rng": self.rng.get_state()}

    def set_state(self, state: dict) -> None:
        self._carry, self._reserve = state["carry"], state["reserve"]
        self.rng.set_state(state["rng"])

    # ----------------------------------------------------------------------------- inspection
    @property
    def enemy_avail_actions(self) -> torch.Tensor:
        """Available actions of the opponent's units ``[B, N, 6 + max(A, N)]`` (for ``enemy_actions``)."""
        if self._carry is None:
            raise RuntimeError("call reset() before enemy_avail_actions")
        return self._carry.enemy_avail.clone()

    def compositions(self) -> list[str]:
        """Each battle's composition label, e.g. ``3s2z_vs_3s2z``."""
        if self.battle is None:
            raise RuntimeError("call reset() before compositions()")
        types = self.battle.utype.tolist()
        exists = self.battle.exists.tolist()
        labels = []
        for row, ex in zip(types, exists):
            names = [UNIT_TYPES[t] for t, e in zip(row, ex) if e]
            n_allies = sum(ex[:self.a_max])
            labels.append(f"{team_label(names[:n_allies])}_vs_{team_label(names[n_allies:])}")
        return labels

    def render_frame(self, b: int) -> RenderFrame:
        """A snapshot of battle ``b`` for the renderer (allies first, then enemies; empty slots dropped)."""
        if self.battle is None:
            raise RuntimeError("call reset() before render_frame()")
        if not 0 <= b < self.batch_size:
            raise ValueError(f"env index {b} outside 0..{self.batch_size - 1}")
        st = self.battle
        keep = st.exists[b].cpu().numpy()
        slots = np.flatnonzero(keep)
        compact = np.full(len(keep), -1)
        compact[slots] = np.arange(len(slots))
        target = st.attack_target[b].cpu().numpy()[slots]
        target = np.where(target >= 0, compact[np.clip(target, 0, None)], -1)

        def np_(x):
            return x[b].cpu().numpy()[slots]

        return RenderFrame(
            map_size=(self.map_size, self.map_size), positions=np_(st.pos).astype(float),
            health=np_(st.health).astype(float), max_health=np_(st.max_health).astype(float),
            shield=np_(st.shield).astype(float), max_shield=np_(st.max_shield).astype(float),
            team=self.team.cpu().numpy()[slots].astype(int),
            unit_type=tuple(UNIT_TYPES[t] for t in np_(st.utype)), radius=np_(st.radius).astype(float),
            alive=np_(st.alive).astype(bool), attack_target=target.astype(int), step=int(st.t[b]),
        )
