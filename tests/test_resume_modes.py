"""Every training mode resumes exactly: a run killed right after a checkpoint and resumed from it
writes the same evaluation and episode records as an uninterrupted run (CPU). Episode replay (QMIX),
on-policy rollouts across rounds (MAPPO) and per-step transitions with a replay (MADDPG)."""
import pytest

from harness.runner.loop import RunLoop
from harness.spec import RunSpec

SPECS = {
    "episodes": dict(algorithm="qmix", algorithm_config={"batch_size": 8}, scenario="3m", n_envs=4,
                     budget_env_steps=1500, eval_interval=500, eval_episodes=4),
    "rollouts": dict(algorithm="mappo", algorithm_config={"horizon": 25, "epochs": 2}, scenario="3m",
                     n_envs=4, budget_env_steps=1200, eval_interval=400, eval_episodes=4),   # episodes span rounds
    "transitions": dict(algorithm="maddpg", algorithm_config={"batch_size": 32, "warmup": 64}, scenario="simple_world",
                        n_envs=8, budget_env_steps=600, eval_interval=200, eval_episodes=8),
}


class Killed(Exception):
    pass


def _files(loop: RunLoop) -> tuple[str, str]:
    return loop.files.evals_path.read_text(), loop.files.episodes_path.read_text()


@pytest.mark.parametrize("mode", list(SPECS))
def test_a_run_resumed_after_a_kill_continues_bit_identically(tmp_path, mode):
    spec = RunSpec(suite="resume", seed=3, device="cpu", **SPECS[mode])
    ref = RunLoop(spec, tmp_path / "ref", lambda e: None)
    ref.files.create(spec)
    ref.run()

    cut = RunLoop(spec, tmp_path / "cut", lambda e: None)
    cut.files.create(spec)
    saved, kill_at = cut.checkpoint, spec.eval_interval

    def checkpoint_then_die():
        saved()
        if cut.state.t_env >= kill_at:
            raise Killed   # as a SIGKILL right after this checkpoint: only the files survive
    cut.checkpoint = checkpoint_then_die
    with pytest.raises(Killed):
        cut.run()
    resumed = RunLoop(spec, tmp_path / "cut", lambda e: None)
    assert resumed.restore()
    resumed.run()
    assert _files(resumed) == _files(ref)
    assert resumed.state.updates == ref.state.updates > 0
