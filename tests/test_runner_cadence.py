"""The runner trains as often as the algorithm's cadence says (PyMARL: once per finished episode),
and never lets a collection round skip an evaluation."""
import pytest

from harness.runner.loop import RunLoop
from harness.spec import RunSpec


def _spec(**kw) -> RunSpec:
    base = dict(suite="cadence", algorithm="vdn", algorithm_config={"batch_size": 8}, scenario="climbing", seed=0,
                budget_env_steps=200, eval_interval=100, eval_episodes=4, device="cpu", n_envs=8)
    return RunSpec(**(base | kw))


def _trained(spec: RunSpec, tmp_path) -> tuple[RunLoop, list[int]]:
    loop = RunLoop(spec, tmp_path, lambda e: None, tracking_enabled=False)
    seen: list[int] = []
    train = loop.algorithm.train_program

    def spy(t_env, episodes_seen, generator):
        seen.append(episodes_seen)
        return train(t_env, episodes_seen, generator)

    loop.algorithm.train_program = spy
    loop.run()
    return loop, seen


def test_one_learner_update_per_finished_episode_by_default(tmp_path):
    loop, seen = _trained(_spec(), tmp_path)
    # one-step episodes, 8 per round: 200 episodes, an update due after each, at its own episode count
    assert seen == list(range(1, 201))
    # a round's 8 episodes are stored before its 8 updates, so even the first finds batch_size=8 episodes
    assert loop.state.updates == 200


def test_update_every_n_episodes_is_the_algorithms_setting(tmp_path):
    loop, seen = _trained(_spec(algorithm_config={"batch_size": 8, "update_every": 8}), tmp_path)
    assert seen == list(range(8, 201, 8))


def test_a_run_whose_round_could_span_two_evaluation_intervals_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"evaluation interval 4 is shorter than one collection round can be "
                                         r"\(n_envs 8 x episode limit 1 = 8 env steps\)"):
        RunLoop(_spec(eval_interval=4, budget_env_steps=16), tmp_path, lambda e: None, tracking_enabled=False)
