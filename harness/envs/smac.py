"""StarCraft II backend: B instances of SMAC's ``StarCraft2Env`` behind the batched interface.

``backend: smac`` runs the StarCraft Multi-Agent Challenge (oxwhirl/smac) on the real game. Both the
``smac`` package and StarCraft II are optional: nothing here imports ``smac`` until :func:`make_smac`
is called, and every way the installation can be missing or wrong ends in one error class,
:class:`StarCraftUnavailable`, whose message says how to fix it.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import platform
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from harness.envs.base import BatchedEnv, EnvInfo, EnvStep, check_actions

SMAC_INSTALL = (
    "Install the StarCraft Multi-Agent Challenge with "
    "`pip install git+https://github.com/oxwhirl/smac.git` "
    "(or from source: `git clone https://github.com/oxwhirl/smac.git && pip install -e smac/`)."
)
SC2_INSTALL = (
    "StarCraft II must be installed and the SC2PATH environment variable must point at its folder "
    "(defaults: Linux ~/StarCraftII, macOS /Applications/StarCraft II, "
    "Windows C:/Program Files (x86)/StarCraft II). Linux builds: "
    "https://github.com/Blizzard/s2client-proto#downloads (SMAC's paper used 4.6.2, build 69232; "
    "4.10 is common). Copy SMAC's maps (smac/env/starcraft2/maps/SMAC_Maps) into $SC2PATH/Maps/."
)

# Builds (the N of Versions/BaseN) that MARL papers commonly run on, with their game versions.
KNOWN_BUILDS = {
    55958: "3.16.1",
    59587: "4.0.2",
    65094: "4.3.1",
    67188: "4.5.1",
    69232: "4.6.2",
    70154: "4.7.1",
    71061: "4.8.0",
    73286: "4.8.4",
    74741: "4.9.2",
    75025: "4.9.3",
    75689: "4.10.0",
    76052: "4.10.2",
    76114: "4.10.3",
    76811: "4.10.4",
    77379: "4.11.0",
    78285: "4.11.4",
    80188: "4.12.1",
}


class StarCraftUnavailable(RuntimeError):
    """SMAC or StarCraft II is missing or the wrong package; the message says how to fix it."""


# --- locating StarCraft II -------------------------------------------------------------------------


def default_sc2_path(system: str | None = None) -> Path:
    """Where pysc2 looks for StarCraft II when SC2PATH is unset, for this (or the named) OS."""
    system = system or platform.system()
    if system == "Windows":
        return Path("C:/Program Files (x86)/StarCraft II")
    if system == "Darwin":
        return Path("/Applications/StarCraft II")
    return Path("~/StarCraftII").expanduser()


def sc2_path() -> Path:
    """The StarCraft II folder: SC2PATH if set, else the OS default; raises if it does not exist."""
    configured = os.environ.get("SC2PATH")
    path = Path(configured).expanduser() if configured else default_sc2_path()
    if not path.is_dir():
        where = (
            f"SC2PATH={configured!r} does not exist or is not a folder"
            if configured
            else f"SC2PATH is unset and the default location {str(path)!r} does not exist"
        )
        raise StarCraftUnavailable(f"StarCraft II not found: {where}. {SC2_INSTALL}")
    return path


def installed_builds(path: Path) -> list[int]:
    """Build numbers of the game binaries under ``path/Versions`` (folders named ``BaseNNNNN``)."""
    versions = path / "Versions"
    if not versions.is_dir():
        return []
    builds = []
    for entry in versions.iterdir():
        digits = entry.name.removeprefix("Base")
        if entry.is_dir() and entry.name.startswith("Base") and digits.isdigit():
            builds.append(int(digits))
    return sorted(builds)


def starcraft_version(path: str | Path | None = None) -> str:
    """Provenance label of the game SMAC will launch, e.g. ``"StarCraft II 4.10.0 (Base75689)"``.

    pysc2 launches the newest installed build when no version is requested, so that is the one named.
    """
    root = Path(path).expanduser() if path is not None else sc2_path()
    builds = installed_builds(root)
    if not builds:
        raise StarCraftUnavailable(
            f"No StarCraft II binaries found: {str(root / 'Versions')!r} has no BaseNNNNN folder. "
            f"{SC2_INSTALL}"
        )
    build = builds[-1]
    version = KNOWN_BUILDS.get(build, "build")
    return f"StarCraft II {version} (Base{build})"


def require_map(path: Path, map_name: str) -> None:
    """Raise if SMAC's map file for ``map_name`` is not where pysc2 will look for it."""
    map_file = path / "Maps" / "SMAC_Maps" / f"{map_name}.SC2Map"
    if not map_file.is_file():
        raise StarCraftUnavailable(
            f"SMAC map {map_name!r} not found at {str(map_file)!r}. Copy the SMAC_Maps folder "
            "(smac/env/starcraft2/maps/SMAC_Maps in the SMAC source, or "
            "https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip) "
            f"into {str(path / 'Maps')!r}."
        )


# --- importing SMAC --------------------------------------------------------------------------------

_SMAC3_MARKERS = ("facade", "HyperparameterOptimizationFacade", "Scenario", "intensifier")


def _is_smac3(module: ModuleType) -> bool:
    """True if the imported ``smac`` is SMAC3, the AutoML optimiser that shares the module name."""
    return any(hasattr(module, name) for name in _SMAC3_MARKERS) or (
        hasattr(module, "__version__") and importlib.util.find_spec("smac.env") is None
    )


def load_starcraft2env() -> type:
    """Import SMAC's ``StarCraft2Env`` class, or raise :class:`StarCraftUnavailable` saying why not."""
    try:
        smac = importlib.import_module("smac")
    except ImportError as err:
        raise StarCraftUnavailable(f"The `smac` package is not installed ({err}). {SMAC_INSTALL}") from err
    location = getattr(smac, "__file__", None) or "an unknown location"
    if _is_smac3(smac):
        version = getattr(smac, "__version__", "unknown version")
        raise StarCraftUnavailable(
            f"The installed `smac` ({version}, at {location}) is SMAC3, the AutoML hyperparameter "
            "optimiser, not the StarCraft Multi-Agent Challenge; both use the module name `smac`. "
            f"Uninstall it (`pip uninstall smac`) or use another environment, then: {SMAC_INSTALL} "
            f"{SC2_INSTALL}"
        )
    if importlib.util.find_spec("smac.env") is None:
        raise StarCraftUnavailable(
            f"The installed `smac` (at {location}) has no `smac.env`: it is not the StarCraft "
            f"Multi-Agent Challenge. {SMAC_INSTALL}"
        )
    try:
        env_module = importlib.import_module("smac.env")
    except ImportError as err:
        raise StarCraftUnavailable(
            f"SMAC is installed (at {location}) but importing `smac.env` failed: {err}. "
            f"Reinstall it with its dependencies (pysc2, protobuf). {SMAC_INSTALL}"
        ) from err
    if not hasattr(env_module, "StarCraft2Env"):
        raise StarCraftUnavailable(f"`smac.env` (at {location}) has no StarCraft2Env. {SMAC_INSTALL}")
    return env_module.StarCraft2Env


# --- the batched adapter ---------------------------------------------------------------------------

COUNTS = ("dead_allies", "dead_enemies", "episode_step")  # EnvStep.info keys, each [B] long


def instance_seeds(seed: int, batch_size: int) -> list[int]:
    """31-bit game seeds for the B instances from one run seed (SeedSequence: reproducible, spread)."""
    state = np.random.SeedSequence(seed).generate_state(batch_size, dtype=np.uint32)
    return [int(s) & 0x7FFFFFFF for s in state]


class SMACBatchedEnv(BatchedEnv):
    """B StarCraft II games stepped one after another; outputs stacked into batched tensors.

    Episodes never autoreset: an environment that is done keeps returning its final observation,
    its flags and zero reward until :meth:`reset`, and its actions are ignored. SMAC's
    ``continuing_episode=True`` is set so that ``info["episode_limit"]`` marks time-outs, which
    become ``truncated``; every other end of a game is ``terminated``.
    """

    def __init__(
        self,
        map_name: str,
        env_cls: type,
        *,
        batch_size: int,
        device: torch.device,
        seed: int,
        simulator: str,
        env_kwargs: dict[str, Any] | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.map_name = map_name
        self.batch_size = batch_size
        self.device = device
        self._env_cls = env_cls
        self._env_kwargs = dict(env_kwargs or {})
        self._seed = seed
        try:
            self._envs = self._build(seed)
        except KeyError as err:  # SMAC's map registry lookup
            raise ValueError(
                f"SMAC does not know the map {map_name!r} (not in smac.env.starcraft2.maps); "
                "`python -m smac.bin.map_list` lists the maps it has"
            ) from err
        spec = self._envs[0].get_env_info()
        self.info = EnvInfo(
            n_agents=int(spec["n_agents"]),
            n_actions=int(spec["n_actions"]),
            obs_dim=int(spec["obs_shape"]),
            state_dim=int(spec["state_shape"]),
            episode_limit=int(spec["episode_limit"]),
            simulator=simulator,
        )
        self._last: EnvStep | None = None

    def _build(self, seed: int) -> list[Any]:
        """One SMAC game per batch slot, each with its own seed (games launch on first reset)."""
        return [
            self._env_cls(map_name=self.map_name, seed=s, continuing_episode=True, **self._env_kwargs)
            for s in instance_seeds(seed, self.batch_size)
        ]

    def reset(self, seed: int | None = None) -> EnvStep:
        """Start new episodes; a new ``seed`` relaunches the games, since SC2 seeds at launch only."""
        if seed is not None and seed != self._seed:
            self.close()
            self._seed = seed
            self._envs = self._build(seed)
        for env in self._envs:
            env.reset()
        B = self.batch_size
        zeros = torch.zeros(B, dtype=torch.bool, device=self.device)  # [B]
        self._last = self._observe(
            reward=torch.zeros(B, dtype=torch.float32, device=self.device),
            terminated=zeros,
            truncated=zeros.clone(),
            battle_won=zeros.clone(),
            counts=np.zeros((B, 3), dtype=np.int64),
        )
        return self._last

    def step(self, actions: torch.Tensor) -> EnvStep:
        """Send each live game its agents' actions; done games stay done with zero reward."""
        if self._last is None:
            raise RuntimeError("call reset() before step()")
        B, A = self.batch_size, self.info.n_agents
        check_actions(actions, B, A)
        acts = actions.detach().cpu().numpy().astype(np.int64)  # [B, A]
        was_done = self._last.done.cpu().numpy()  # [B]
        self._check_available(acts, was_done)

        reward = np.zeros(B, dtype=np.float32)  # [B]
        terminated = self._last.terminated.cpu().numpy().copy()  # [B]
        truncated = self._last.truncated.cpu().numpy().copy()  # [B]
        battle_won = self._last.battle_won.cpu().numpy().copy()  # [B]
        counts = np.stack([self._last.info[k].cpu().numpy() for k in COUNTS], axis=1)  # [B, 3]
        for b, env in enumerate(self._envs):
            if was_done[b]:
                continue
            r, ended, info = env.step([int(a) for a in acts[b]])
            timeout = bool(info.get("episode_limit", False))
            reward[b] = float(r)
            terminated[b] = bool(ended) and not timeout
            truncated[b] = timeout
            battle_won[b] = bool(info.get("battle_won", False))
            counts[b, :2] = (int(info.get("dead_allies", 0)), int(info.get("dead_enemies", 0)))
            counts[b, 2] += 1

        self._last = self._observe(
            reward=torch.as_tensor(reward, device=self.device),
            terminated=torch.as_tensor(terminated, device=self.device),
            truncated=torch.as_tensor(truncated, device=self.device),
            battle_won=torch.as_tensor(battle_won, device=self.device),
            counts=counts,
            frozen=was_done,
        )
        return self._last

    def _check_available(self, acts: np.ndarray, was_done: np.ndarray) -> None:
        """Raise a ValueError naming env, agent and action instead of SMAC's bare assertion."""
        avail = self._last.avail_actions.cpu().numpy()  # [B, A, n_actions]
        n_actions = self.info.n_actions
        for b in np.flatnonzero(~was_done):
            for a, act in enumerate(acts[b]):
                if not 0 <= act < n_actions or not avail[b, a, act]:
                    allowed = np.flatnonzero(avail[b, a]).tolist()
                    raise ValueError(
                        f"env {b} agent {a}: action {act} is not available on {self.map_name}; "
                        f"available actions: {allowed}"
                    )

    def _observe(
        self,
        *,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        battle_won: torch.Tensor,
        counts: np.ndarray,
        frozen: np.ndarray | None = None,
    ) -> EnvStep:
        """Read obs, state and available actions from the games (kept as they were for frozen ones)."""
        B, A = self.batch_size, self.info.n_agents
        obs = np.zeros((B, A, self.info.obs_dim), dtype=np.float32)  # [B, A, obs_dim]
        state = np.zeros((B, self.info.state_dim), dtype=np.float32)  # [B, state_dim]
        avail = np.zeros((B, A, self.info.n_actions), dtype=bool)  # [B, A, n_actions]
        for b, env in enumerate(self._envs):
            if frozen is not None and frozen[b]:
                obs[b] = self._last.obs[b].cpu().numpy()
                state[b] = self._last.state[b].cpu().numpy()
                avail[b] = self._last.avail_actions[b].cpu().numpy()
                continue
            obs[b] = np.asarray(env.get_obs(), dtype=np.float32).reshape(A, -1)
            state[b] = np.asarray(env.get_state(), dtype=np.float32).reshape(-1)
            avail[b] = np.asarray(env.get_avail_actions()).reshape(A, -1) != 0
        return EnvStep(
            obs=torch.from_numpy(obs).to(self.device),
            state=torch.from_numpy(state).to(self.device),
            avail_actions=torch.from_numpy(avail).to(self.device),
            agent_mask=torch.ones(B, A, dtype=torch.bool, device=self.device),  # [B, A]
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            battle_won=battle_won,
            # each [B] long, as the combat simulator reports them
            info={k: torch.as_tensor(counts[:, i], device=self.device) for i, k in enumerate(COUNTS)},
        )

    def compositions(self) -> list[str]:
        """Every game plays the map's fixed teams, so the map name is the composition."""
        return [self.map_name] * self.batch_size

    def close(self) -> None:
        """Shut down every StarCraft II process this environment launched."""
        for env in self._envs:
            env.close()


def make_smac(
    name: str,
    *,
    batch_size: int,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **env_kwargs: Any,
) -> SMACBatchedEnv:
    """Build ``batch_size`` SMAC games of map ``name``; raises :class:`StarCraftUnavailable` if it can't.

    Extra keyword arguments go to ``StarCraft2Env`` (e.g. ``difficulty="7"``, ``step_mul=8``).
    """
    fixed = sorted({"map_name", "seed", "continuing_episode"} & set(env_kwargs))
    if fixed:
        raise ValueError(
            f"make_smac sets {', '.join(fixed)} itself (continuing_episode=True marks time-outs); "
            "pass the map as `name` and the run seed as `seed`"
        )
    env_cls = load_starcraft2env()
    root = sc2_path()
    simulator = starcraft_version(root)
    require_map(root, name)
    return SMACBatchedEnv(
        name,
        env_cls,
        batch_size=batch_size,
        device=torch.device(device),
        seed=seed,
        simulator=simulator,
        env_kwargs=env_kwargs,
    )
