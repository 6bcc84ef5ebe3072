"""Behaviour of the combat simulator: sanity of battles, determinism, masks, autoreset, errors."""
from __future__ import annotations

import pytest
import torch

from harness.envs.base import CompositionSpec
from harness.envs.combat import Composition, Rules, make_env
from harness.envs.combat.policies import FocusFirePolicy, PullBackPolicy, RandomPolicy, ScriptedPolicy
from harness.envs.combat.render_frame import RenderFrame
from harness.envs.registry import available_scenarios, make, scenario, validate_composition


def run_episodes(env, policy):
    """Play one episode in every battle; return (won [B], returns [B], lengths [B], last step)."""
    step = env.reset()
    ret = torch.zeros(env.batch_size)
    length = torch.zeros(env.batch_size, dtype=torch.long)
    for _ in range(env.info.episode_limit + 1):
        live = ~step.done
        step = env.step(policy(step))
        ret += step.reward
        length += live.long()
        if bool(step.done.all()):
            break
    return step.battle_won.clone(), ret, length, step


def test_registry_has_papers_maps_and_sets():
    names = set(available_scenarios())
    for n in ("10m_vs_11m", "5m_vs_6m", "MMM2", "corridor", "6h_vs_8z", "3s5z_vs_3s6z", "3m", "8m", "2s3z",
              "3s5z", "1c3s5z", "MMM", "2m_vs_1z", "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "8m_vs_9m", "25m",
              "27m_vs_30m", "2c_vs_64zg", "so_many_baneling", "bane_vs_bane", "3-8sz", "3-8MMM", "3-8csz",
              "5-11sz", "5-11MMM", "5-11csz", "SZ", "CSZ", "MMM-set"):
        assert n in names
        assert scenario(n).family == "combat"
    assert scenario("3m").starcraft_map and not scenario("3-8sz").starcraft_map


def test_every_map_runs_a_few_steps():
    for name in ("MMM2", "corridor", "2c_vs_64zg", "so_many_baneling", "bane_vs_bane", "1c3s5z", "27m_vs_30m"):
        env = make(name, batch_size=2, seed=1)
        step, pol = env.reset(), RandomPolicy(env, seed=0)
        for _ in range(3):
            step = env.step(pol(step))
        assert step.obs.shape == (2, env.info.n_agents, env.info.obs_dim)
        assert step.state.shape == (2, env.info.state_dim)
        assert env.info.simulator.startswith("combat ")


def test_focus_fire_beats_random_by_a_wide_margin():
    """On 3m focus fire wins far more often; on 5m_vs_6m (Hard) neither wins, but focus fire deals
    several times the damage (return)."""
    for name in ("3m", "5m_vs_6m"):
        env = make(name, batch_size=64, seed=0)
        won_ff, ret_ff, _, _ = run_episodes(env, FocusFirePolicy(env))
        env = make(name, batch_size=64, seed=0)
        won_rand, ret_rand, _, _ = run_episodes(env, RandomPolicy(env, seed=1))
        assert ret_ff.mean() - ret_rand.mean() >= 4.0, (name, float(ret_ff.mean()), float(ret_rand.mean()))
        if name == "3m":
            assert won_ff.float().mean() - won_rand.float().mean() >= 0.3


def test_pulling_injured_units_back_beats_plain_focus_fire():
    """The scripted opponent chases its target as SC2's units do, so it can be out-played: the micro
    that lifts SMAC agents above focus fire works here too (with SMAX's no-chase rule it does not)."""
    rates = {}
    for chase in (True, False):
        for policy in (FocusFirePolicy, PullBackPolicy):
            env = make_env("3m", batch_size=256, seed=0, rules=Rules(chase_targets=chase))
            won, _, _, _ = run_episodes(env, policy(env))
            rates[chase, policy.__name__] = float(won.float().mean())
    assert rates[True, "PullBackPolicy"] - rates[True, "FocusFirePolicy"] >= 0.1, rates
    assert rates[False, "PullBackPolicy"] <= rates[False, "FocusFirePolicy"] + 0.05, rates


def test_symmetric_map_with_the_same_script_on_both_sides_is_even():
    env = make("3m", batch_size=256, seed=4)
    won, _, _, step = run_episodes(env, ScriptedPolicy(env))
    lost = step.terminated & ~won & (step.info["dead_allies"] == 3) & (step.info["dead_enemies"] < 3)
    p_win, p_loss = won.float().mean(), lost.float().mean()
    assert abs(float(p_win - p_loss)) < 0.15, (float(p_win), float(p_loss))


def test_dead_units_can_only_noop():
    env = make("5m_vs_6m", batch_size=32, seed=2)
    step, pol = env.reset(), RandomPolicy(env, seed=0)
    seen_dead = False
    for _ in range(40):
        step = env.step(pol(step))
        dead = ~env.battle.alive[:, :env.a_max]
        seen_dead |= bool(dead.any())
        avail = step.avail_actions[dead]
        assert avail[:, 0].all() and not avail[:, 1:].any()
        assert (step.obs[dead] == 0).all()
    assert seen_dead


def test_return_of_a_win_is_20_and_timeout_is_a_loss():
    env = make("3m", batch_size=64, seed=0)
    won, ret, _, _ = run_episodes(env, FocusFirePolicy(env))
    assert won.any()
    assert torch.allclose(ret[won], torch.full_like(ret[won], 20.0), atol=1e-4)
    # nobody fights: the episode runs into the limit and counts as a loss
    env = make("3m", batch_size=4, seed=0)
    step = env.reset()
    stop = torch.ones(4, 3, dtype=torch.long)
    for t in range(env.info.episode_limit):
        assert not bool(step.done.any())
        step = env.step(stop, enemy_actions=stop)
    assert step.truncated.all() and not step.terminated.any() and not step.battle_won.any()


def test_same_seed_is_bit_identical_and_seeds_differ():
    def trajectory(seed):
        env = make("3-8csz", batch_size=8, seed=seed)
        step, pol = env.reset(), RandomPolicy(env, seed=seed)
        out = [step.obs.clone()]
        for _ in range(25):
            step = env.step(pol(step))
            out += [step.obs.clone(), step.reward.clone(), step.entities.clone()]
        return out, env.compositions()
    a, comps_a = trajectory(5)
    b, comps_b = trajectory(5)
    c, comps_c = trajectory(6)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and comps_a == comps_b
    assert not torch.equal(a[0], c[0]) and comps_a != comps_c


def test_mixed_compositions_share_one_padded_batch():
    env = make("3-8sz", batch_size=32, seed=3)
    step = env.reset()
    labels = env.compositions()
    assert len(set(labels)) > 5
    sizes = step.agent_mask.sum(1)
    for label, n in zip(labels, sizes.tolist()):
        allies = label.split("_vs_")[0]
        assert sum(int(part) for part in allies.replace("s", " ").replace("z", " ").split()) == n
    pad = ~step.agent_mask
    assert step.avail_actions[pad][:, 0].all() and not step.avail_actions[pad][:, 1:].any()
    assert (step.obs[pad] == 0).all()
    assert not step.entity_mask[:, :env.a_max][pad].any()
    assert not step.obs_mask[pad].any()
    assert step.obs_mask.shape == (32, 8, 16) and step.entities.shape == (32, 16, env.info.entity_dim)


def test_cover_pads_train_and_eval_envs_to_the_same_shapes():
    train, evals = CompositionSpec(agents=(3, 5)), [CompositionSpec(agents=(k, k)) for k in (6, 7, 8)]
    tr = make("SZ", batch_size=4, composition=train, cover=evals)
    ev = make("SZ", batch_size=4, composition=evals[2], cover=[train])
    assert tr.info == ev.info and tr.info.n_agents == 8
    step = tr.reset()
    assert int(step.agent_mask.sum(1).max()) <= 5
    assert (ev.reset().agent_mask.sum(1) == 8).all()


def test_autoreset_restarts_finished_battles_and_plain_envs_stay_done():
    for autoreset in (True, False):
        env = make("3m", batch_size=16, seed=0, autoreset=autoreset)
        step, pol = env.reset(), FocusFirePolicy(env)
        while not bool(step.done.any()):
            step = env.step(pol(step))
        done = step.done.clone()
        step = env.step(pol(step))
        assert (step.reward[done] == 0).all()
        if autoreset:
            assert not step.done[done].any() and (env.battle.t[done] == 0).all()
            assert (env.battle.health[done][:, :3] == 45).all()
        else:
            assert step.done[done].all()
            assert step.avail_actions[done][..., 0].all() and not step.avail_actions[done][..., 1:].any()


def test_generators_enumerate_and_sample_weighted_teams():
    env = make("SZ", batch_size=64, seed=0, composition=CompositionSpec(weights=(("stalker", 1.0), ("zealot", 0.0))))
    env.reset()
    assert all(label.count("z") == 0 for label in env.compositions())
    comps = env.generator_spec.enumerate()
    assert {len(c.allies) for c in comps} == {3, 4, 5}
    ranged = make("3-8sz", batch_size=1).generator_spec.enumerate()
    assert len(ranged) == sum(k + 1 for k in range(3, 9))


def test_sets_have_the_task_counts_the_papers_report():
    # OPT, Sec. 5: 3-8sz 39 tasks, 3-8MMM and 3-8csz 66, 5-11sz 63, 5-11csz and 5-11MMM 120
    expected = {"3-8sz": 39, "3-8MMM": 66, "3-8csz": 66, "5-11sz": 63, "5-11csz": 120, "5-11MMM": 120}
    for name, count in expected.items():
        comps = make(name, batch_size=1).generator_spec.enumerate()
        assert len(comps) == count, name
        assert all(c.allies == c.enemies for c in comps)


def test_bad_input_raises_clear_errors():
    env = make("3m", batch_size=2)
    step = env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        env.step(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="not available"):
        env.step(torch.zeros(2, 3, dtype=torch.long))  # no-op is for dead units only
    with pytest.raises(ValueError, match="allowed"):
        validate_composition("3-8sz", CompositionSpec(agents=(2, 9)))
    with pytest.raises(ValueError, match="fixed teams"):
        validate_composition("3m", CompositionSpec(agents=(3, 4)))
    with pytest.raises(ValueError, match="allowed: stalker, zealot"):
        validate_composition("3-8sz", CompositionSpec(units=(("marine", (1, 2)),)))
    with pytest.raises(ValueError, match="valid unit types"):
        env.reset_to(Composition(("marine", "tank"), ("marine",)))
    with pytest.raises(KeyError, match="available"):
        make("4m", batch_size=1)
    with pytest.raises(ValueError, match="Spine Crawler"):
        make_env("2s_vs_1sc", batch_size=1)
    lenient = make_env("3m", batch_size=2, invalid_actions="stop")
    lenient.reset()
    lenient.step(torch.full((2, 3), 8, dtype=torch.long))  # out-of-range attacks become stop
    assert (lenient.battle.last_action[:, :3] == 1).all()
    del step


def test_render_frame_describes_one_battle():
    env = make("MMM2", batch_size=2, seed=0)
    step = env.reset()
    env.step(FocusFirePolicy(env)(step))
    frame = env.render_frame(1)
    assert isinstance(frame, RenderFrame)
    assert frame.positions.shape == (22, 2) and len(frame.unit_type) == 22
    assert (frame.team[:10] == 0).all() and (frame.team[10:] == 1).all()
    assert frame.step == 1 and frame.attack_target.max() < 22


def test_explicit_teams_enemy_ranges_and_view_options():
    teams = (("stalker", "stalker", "zealot"), ("zealot",) * 4)
    env = make_env("SZ", batch_size=16, seed=0, composition=CompositionSpec(teams=teams))
    env.reset()
    assert set(env.compositions()) <= {"2s1z_vs_2s1z", "4z_vs_4z"}
    uneven = make_env("SZ", batch_size=32, seed=0, composition=CompositionSpec(agents=(3, 3), enemies=(4, 5)))
    uneven.reset()
    assert uneven.info.n_agents == 3 and uneven.n_max == 5
    assert {len(label.split("_vs_")[1]) > 0 for label in uneven.compositions()} == {True}
    assert set((uneven.battle.exists[:, 3:].sum(1)).tolist()) <= {4, 5}
    plain = make_env("3m", batch_size=2, seed=0)
    rich = make_env("3m", batch_size=2, seed=0, obs_last_action=True, entity_tags=True)
    assert rich.info.obs_dim == plain.info.obs_dim + 2 * rich.info.n_actions
    assert rich.info.entity_dim == plain.info.entity_dim + rich.info.n_entities
    step = rich.reset()
    tags = step.entities[..., -rich.info.n_entities:]
    assert torch.equal(tags.sum(-1), torch.ones(2, 6)) and torch.equal(tags.sum(-2), torch.ones(2, 6))
    step = rich.step(torch.ones(2, 3, dtype=torch.long))
    assert step.obs.shape == (2, 3, rich.info.obs_dim)


def test_reset_with_a_seed_repeats_the_episode():
    env = make("3-8csz", batch_size=4, seed=0)
    a = env.reset(seed=11)
    labels = env.compositions()
    env.reset(seed=12)
    b = env.reset(seed=11)
    assert torch.equal(a.state, b.state) and env.compositions() == labels


def test_combat_options_reach_the_simulator_through_the_registry():
    """A suite's ``combat:`` key: rule presets and overrides, compiled steps, clear errors."""
    env = make("3m", batch_size=2, seed=0, options={"rules": "smax", "chase_targets": True})
    assert env.rules.profile == "smax" and env.rules.chase_targets and not env.rules.regeneration
    env = make("3m", batch_size=2, seed=0, options={"regeneration": False})
    assert env.rules.profile == "sc2" and not env.rules.regeneration and env.rules.chase_targets
    env = make("3m", batch_size=2, seed=0, options={"compile": True})
    assert hasattr(env._fused, "_torchdynamo_orig_callable")
    with pytest.raises(ValueError, match="unknown combat option.*allowed: compile, rules"):
        make("3m", batch_size=2, seed=0, options={"regen": False})
    assert make("climbing", batch_size=2, seed=0, options={"compile": True}).info.n_agents == 2


def test_a_rejected_step_changes_nothing():
    env = make("3m", batch_size=2, seed=0, autoreset=True)
    step = env.reset()
    before = env.battle.pos.clone(), env.battle.t.clone(), env.rng.get_state()
    with pytest.raises(ValueError, match="env 0, agent 0 is not available"):
        env.step(torch.zeros(2, 3, dtype=torch.long))
    assert torch.equal(env.battle.pos, before[0]) and torch.equal(env.battle.t, before[1])
    env.rng.set_state(before[2])  # a rejected step drew its jitter noise; replay from the same point
    ok = env.step(torch.ones(2, 3, dtype=torch.long))
    assert (env.battle.t == 1).all() and ok.obs.shape == step.obs.shape


def test_the_entity_view_can_be_left_out_without_changing_anything_else():
    runs = []
    for entity_view in (True, False):
        env = make("3-8csz", batch_size=6, seed=3, autoreset=True, entity_view=entity_view)
        step, pol = env.reset(), RandomPolicy(env, seed=3)
        out = []
        for _ in range(40):
            step = env.step(pol(step))
            out.append((step.obs, step.state, step.reward, step.avail_actions))
        runs.append((out, step))
    assert runs[0][1].entities is not None and runs[1][1].entities is None and runs[1][1].obs_mask is None
    assert all(torch.equal(x, y) for a, b in zip(runs[0][0], runs[1][0]) for x, y in zip(a, b))


def test_autoreset_keeps_drawing_fresh_battles_past_its_reserve():
    """B=2 battles use up their reserve of 3 fresh battles again and again; restarted battles are
    valid episodes from the set, and the same seed repeats every composition."""
    def play(seed):
        env = make_env("3-8sz", batch_size=2, seed=seed, autoreset=True, reserve_size=3)
        step, pol = env.reset(), RandomPolicy(env, seed=seed)
        labels, restarts = set(), 0
        for _ in range(600):
            done = step.done.clone()
            step = env.step(pol(step))
            restarts += int(done.sum())
            assert (env.battle.t[done] == 0).all() and (step.reward[done] == 0).all()
            n_allies = env.battle.exists[:, :env.a_max].sum(1)
            assert ((n_allies >= 3) & (n_allies <= 8)).all()
            labels.update(env.compositions())
        return restarts, labels
    with pytest.raises(ValueError, match="reserve_size must be >= batch_size=2"):
        make_env("3m", batch_size=2, autoreset=True, reserve_size=1)
    restarts, labels = play(0)
    assert restarts > 12 and len(labels) > 8  # more episodes than several reserves hold
    assert play(0) == (restarts, labels)
