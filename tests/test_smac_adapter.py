"""The StarCraft II adapter, driven by stand-in ``smac`` packages from tests/fakes (no StarCraft II)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.envs.smac import (
    SMACBatchedEnv,
    StarCraftUnavailable,
    default_sc2_path,
    instance_seeds,
    make_smac,
    starcraft_version,
)

FAKES = Path(__file__).parent / "fakes"
REPO = Path(__file__).resolve().parents[1]
FOCUS_FIRE, STOP, NO_OP = "focus", 1, 0


@pytest.fixture
def use_smac(monkeypatch):
    """Put one stand-in ``smac`` package first on sys.path; forget every ``smac`` module afterwards."""

    def install(folder: str) -> None:
        for name in [m for m in sys.modules if m == "smac" or m.startswith("smac.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.syspath_prepend(str(FAKES / folder))

    yield install
    for name in [m for m in sys.modules if m == "smac" or m.startswith("smac.")]:
        del sys.modules[name]


@pytest.fixture
def sc2_install(tmp_path, monkeypatch):
    """A StarCraft II folder with two game builds and SMAC map files, named by SC2PATH."""
    root = tmp_path / "StarCraftII"
    for build in ("Base69232", "Base75689"):
        (root / "Versions" / build).mkdir(parents=True)
    maps = root / "Maps" / "SMAC_Maps"
    maps.mkdir(parents=True)
    for name in ("3m", "8m", "passive_2v2"):
        (maps / f"{name}.SC2Map").write_bytes(b"")
    monkeypatch.setenv("SC2PATH", str(root))
    return root


@pytest.fixture
def fake_smac(use_smac, sc2_install):
    """The deterministic StarCraft2Env stand-in with a StarCraft II folder; yields its class."""
    use_smac("smac_standin")
    from smac.env import StarCraft2Env

    StarCraft2Env.instances.clear()
    return StarCraft2Env


def policy_actions(step, policy) -> torch.Tensor:
    """[B, A] actions: attack the first attackable enemy ('focus'), else a fixed action if available."""
    avail = step.avail_actions  # [B, A, n_actions]
    B, A, n_actions = avail.shape
    actions = torch.zeros(B, A, dtype=torch.long)  # [B, A]
    for b in range(B):
        for a in range(A):
            choice = policy[b] if isinstance(policy, list) else policy
            if choice == FOCUS_FIRE:
                attacks = torch.nonzero(avail[b, a, 6:]).flatten()
                choice = 6 + int(attacks[0]) if attacks.numel() else STOP
            actions[b, a] = choice if avail[b, a, choice] else NO_OP
    return actions


def run_episode(env, policy):
    """Step until every environment is done; returns the list of EnvSteps from reset on."""
    steps = [env.reset()]
    while not bool(steps[-1].done.all()):
        steps.append(env.step(policy_actions(steps[-1], policy)))
        assert len(steps) <= env.info.episode_limit + 1
    return steps


def test_reset_returns_batched_float_and_bool_tensors_with_env_info_shapes(fake_smac):
    env = make_smac("3m", batch_size=2, device="cpu", seed=0)
    step = env.reset()
    info = env.info
    assert (info.n_agents, info.n_actions, info.obs_dim, info.state_dim, info.episode_limit) == (
        3, 9, 7, 6, 60,
    )
    assert step.obs.shape == (2, 3, 7) and step.obs.dtype == torch.float32
    assert step.state.shape == (2, 6) and step.state.dtype == torch.float32
    assert step.avail_actions.shape == (2, 3, 9) and step.avail_actions.dtype == torch.bool
    assert step.agent_mask.dtype == torch.bool and bool(step.agent_mask.all())
    for flag in (step.terminated, step.truncated, step.battle_won):
        assert flag.shape == (2,) and flag.dtype == torch.bool and not bool(flag.any())
    assert step.reward.shape == (2,) and step.reward.dtype == torch.float32
    assert step.entities is None and info.n_entities == 0
    assert env.compositions() == ["3m", "3m"]


def test_full_episode_wins_by_focus_fire_and_loses_by_standing_still(fake_smac):
    env = make_smac("3m", batch_size=2, device="cpu", seed=3)
    steps = run_episode(env, [FOCUS_FIRE, STOP])
    final = steps[-1]
    assert final.battle_won.tolist() == [True, False]
    assert final.terminated.tolist() == [True, True]
    assert final.truncated.tolist() == [False, False]
    assert len(steps) - 1 == 5  # the standing team dies on step 5 (15 health, 3 damage a step)
    won_at = next(t for t, s in enumerate(steps) if bool(s.done[0]))
    assert won_at == 3  # three attackers kill one enemy (2-3 health) per step
    assert float(steps[won_at].reward[0]) > 20.0  # the win bonus arrives with the last kill
    assert final.info["dead_allies"].tolist() == [0, 3]
    assert final.info["dead_enemies"].tolist() == [3, 0]
    assert final.info["episode_step"].tolist() == [3, 5]
    assert final.info["episode_step"].dtype == torch.int64


def test_done_environment_stays_done_with_zero_reward_and_frozen_outputs(fake_smac):
    env = make_smac("3m", batch_size=2, device="cpu", seed=3)
    steps = run_episode(env, [FOCUS_FIRE, STOP])
    won_at = next(t for t, s in enumerate(steps) if bool(s.done[0]))
    for later in steps[won_at + 1:]:
        assert float(later.reward[0]) == 0.0
        assert bool(later.terminated[0]) and bool(later.battle_won[0])
        assert torch.equal(later.obs[0], steps[won_at].obs[0])
        assert torch.equal(later.state[0], steps[won_at].state[0])
    game = fake_smac.instances[0]
    resets_before = game.resets
    # actions sent to a finished game are ignored, even ones it would not allow
    after = env.step(torch.full((2, 3), 8, dtype=torch.long))
    assert after.done.all() and float(after.reward.abs().sum()) == 0.0
    assert game.resets == resets_before


def test_time_limit_is_truncation_not_termination(fake_smac):
    env = make_smac("passive_2v2", batch_size=2, device="cpu", seed=0)
    steps = run_episode(env, STOP)
    final = steps[-1]
    assert len(steps) - 1 == env.info.episode_limit == 5
    assert final.truncated.tolist() == [True, True]
    assert final.terminated.tolist() == [False, False]
    assert not bool(final.battle_won.any())
    assert all(game.continuing_episode for game in fake_smac.instances)


def test_reset_after_episode_starts_fresh_games(fake_smac):
    env = make_smac("3m", batch_size=2, device="cpu", seed=1)
    first = run_episode(env, FOCUS_FIRE)
    again = env.reset()
    assert not bool(again.done.any())
    assert torch.equal(again.obs, first[0].obs)


def test_each_instance_gets_a_distinct_seed_derived_from_the_run_seed(fake_smac):
    make_smac("3m", batch_size=4, device="cpu", seed=7)
    seeds = [game.seed() for game in fake_smac.instances]
    assert seeds == instance_seeds(7, 4)
    assert len(set(seeds)) == 4 and all(0 <= s < 2**31 for s in seeds)
    assert instance_seeds(7, 4) != instance_seeds(8, 4)


def test_reset_with_a_new_seed_relaunches_games_with_new_seeds(fake_smac):
    env = make_smac("3m", batch_size=2, device="cpu", seed=0)
    env.reset()
    old_games = list(fake_smac.instances)
    env.reset(seed=5)
    assert all(game.closed for game in old_games)
    assert [g.seed() for g in fake_smac.instances[2:]] == instance_seeds(5, 2)
    env.reset(seed=5)  # same seed: no relaunch
    assert len(fake_smac.instances) == 4


def test_unavailable_action_raises_value_error_naming_env_agent_and_action(fake_smac):
    env = make_smac("3m", batch_size=1, device="cpu", seed=0)
    env.reset()
    with pytest.raises(ValueError, match=r"env 0 agent 0: action 0 is not available.*\[1, 2, 3"):
        env.step(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.ones(1, 2, dtype=torch.long))


def test_step_before_reset_is_an_error(fake_smac):
    env = make_smac("3m", batch_size=1, device="cpu", seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.ones(1, 3, dtype=torch.long))


def test_close_shuts_down_every_game(fake_smac):
    env = make_smac("3m", batch_size=3, device="cpu", seed=0)
    env.close()
    assert all(game.closed for game in fake_smac.instances)


def test_extra_keyword_arguments_reach_starcraft2env(fake_smac):
    make_smac("3m", batch_size=1, device="cpu", seed=0, difficulty="7", step_mul=8)
    assert fake_smac.instances[0].kwargs == {"difficulty": "7", "step_mul": 8}


def test_simulator_label_names_newest_installed_build(fake_smac, sc2_install):
    env = make_smac("3m", batch_size=1, device="cpu", seed=0)
    assert env.info.simulator == "StarCraft II 4.10.0 (Base75689)"
    assert starcraft_version() == env.info.simulator
    assert starcraft_version(sc2_install) == env.info.simulator


def test_unknown_build_is_recorded_raw(tmp_path):
    (tmp_path / "Versions" / "Base99999").mkdir(parents=True)
    (tmp_path / "Versions" / "Shaders12345").mkdir()
    assert starcraft_version(tmp_path) == "StarCraft II build (Base99999)"


def test_no_game_binaries_is_a_clear_error(tmp_path):
    with pytest.raises(StarCraftUnavailable, match="no BaseNNNNN folder"):
        starcraft_version(tmp_path)


def test_missing_smac_package_says_how_to_install_it(monkeypatch, sc2_install):
    monkeypatch.setitem(sys.modules, "smac", None)  # import smac -> ImportError
    with pytest.raises(StarCraftUnavailable, match="not installed") as err:
        make_smac("3m", batch_size=1, device="cpu", seed=0)
    assert "pip install git+https://github.com/oxwhirl/smac.git" in str(err.value)


def test_smac3_automl_package_is_recognised_and_explained(use_smac, sc2_install):
    use_smac("smac3_standin")
    with pytest.raises(StarCraftUnavailable) as err:
        make_smac("3m", batch_size=1, device="cpu", seed=0)
    message = str(err.value)
    assert "SMAC3" in message and "AutoML" in message and "2.3.1" in message
    assert "pip install git+https://github.com/oxwhirl/smac.git" in message
    assert "SC2PATH" in message


def test_smac_with_missing_pysc2_names_the_failed_import(use_smac, monkeypatch, sc2_install):
    use_smac("smac_without_pysc2")
    monkeypatch.setitem(sys.modules, "pysc2", None)
    with pytest.raises(StarCraftUnavailable, match="importing `smac.env` failed.*pysc2"):
        make_smac("3m", batch_size=1, device="cpu", seed=0)


def test_sc2path_pointing_nowhere_is_a_clear_error(use_smac, monkeypatch, tmp_path):
    use_smac("smac_standin")
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    with pytest.raises(StarCraftUnavailable, match="SC2PATH=.*nowhere.* does not exist"):
        make_smac("3m", batch_size=1, device="cpu", seed=0)


def test_unset_sc2path_with_no_default_install_is_a_clear_error(use_smac, monkeypatch, tmp_path):
    use_smac("smac_standin")
    monkeypatch.delenv("SC2PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # the Linux default, ~/StarCraftII, is absent
    if default_sc2_path().exists():
        pytest.skip("this machine has StarCraft II at the default location")
    with pytest.raises(StarCraftUnavailable, match="SC2PATH is unset") as err:
        make_smac("3m", batch_size=1, device="cpu", seed=0)
    assert "Windows C:/Program Files (x86)/StarCraft II" in str(err.value)


def test_default_locations_follow_pysc2_per_os():
    assert default_sc2_path("Windows").as_posix() == "C:/Program Files (x86)/StarCraft II"
    assert default_sc2_path("Darwin").as_posix() == "/Applications/StarCraft II"
    assert default_sc2_path("Linux").name == "StarCraftII"


def test_missing_map_file_says_where_to_copy_the_maps(fake_smac, sc2_install):
    with pytest.raises(StarCraftUnavailable, match="SMAC map '2s3z' not found.*SMAC_Maps"):
        make_smac("2s3z", batch_size=1, device="cpu", seed=0)


def test_adapter_is_a_batched_env(fake_smac):
    from harness.envs.base import BatchedEnv

    assert isinstance(make_smac("3m", batch_size=1, device="cpu", seed=0), SMACBatchedEnv)
    assert issubclass(SMACBatchedEnv, BatchedEnv)


def test_harness_envs_imports_without_smac():
    code = (
        "import sys; sys.modules['smac'] = None\n"
        "import harness.envs, harness.envs.smac\n"
        "assert 'smac.env' not in sys.modules\n"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_registry_make_with_smac_backend_builds_the_adapter(fake_smac):
    from harness.envs import make

    env = make("3m", batch_size=2, device="cpu", seed=4, backend="smac")
    assert isinstance(env, SMACBatchedEnv)
    assert env.info.simulator.startswith("StarCraft II ")
    assert [game.seed() for game in fake_smac.instances] == instance_seeds(4, 2)
    steps = run_episode(env, FOCUS_FIRE)
    assert steps[-1].battle_won.tolist() == [True, True]


def test_map_unknown_to_smac_is_a_value_error_pointing_at_map_list(fake_smac, sc2_install):
    (sc2_install / "Maps" / "SMAC_Maps" / "4m_custom.SC2Map").write_bytes(b"")
    with pytest.raises(ValueError, match="SMAC does not know the map '4m_custom'.*map_list"):
        make_smac("4m_custom", batch_size=1, device="cpu", seed=0)


def test_arguments_the_adapter_sets_itself_are_refused(fake_smac):
    with pytest.raises(ValueError, match="continuing_episode"):
        make_smac("3m", batch_size=1, device="cpu", seed=0, continuing_episode=False)
