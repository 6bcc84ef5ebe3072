"""Replay memory and checkpoint cost on a long map: a full 5000-episode MMM2 buffer (about 7 GiB) filled
with synthetic full-length episodes and checkpointed every 500 episodes, in a fresh process.

Peak resident memory must stay within 1.2x the buffer's own size (checkpoints hold only the new
episodes, never a copy of the buffer), and a checkpoint's time must follow the episodes added since
the previous one, not the buffer's size: the last save (buffer full) against the first (buffer at
500 episodes), side by side in one process. Restoring from the chunks is measured the same way.
"""
import json
import subprocess
import sys

FILL = r"""
import json, resource, sys, time
from pathlib import Path
import torch
from algorithms.components.replay import EpisodeBatch, EpisodeReplay, index_dtype
from harness.envs import make

out = Path(sys.argv[1])
info = make("MMM2", batch_size=1).info
A, T, N = info.n_agents, info.episode_limit, 5000
replay = EpisodeReplay(N, T, torch.device("cpu"), stored_dtypes={"actions": index_dtype(info.n_actions)})
gen = torch.Generator().manual_seed(0)

def batch(n):
    return EpisodeBatch(
        obs=torch.rand(n, T + 1, A, info.obs_dim, generator=gen), state=torch.rand(n, T + 1, info.state_dim, generator=gen),
        avail_actions=torch.ones(n, T + 1, A, info.n_actions, dtype=torch.bool),
        agent_mask=torch.ones(n, T + 1, A, dtype=torch.bool),
        actions=torch.randint(0, info.n_actions, (n, T, A), generator=gen), reward=torch.rand(n, T, generator=gen),
        terminated=torch.zeros(n, T, dtype=torch.bool), truncated=torch.zeros(n, T, dtype=torch.bool),
        filled=torch.ones(n, T, dtype=torch.bool))

saves = []
for i in range(N // 50):
    replay.insert(batch(50))
    if replay.inserted % 500 == 0:
        t = time.perf_counter()
        replay.persist(out)
        state = replay.state_dict()
        saves.append(time.perf_counter() - t)
peak_fill = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
nbytes = replay.nbytes()
del replay
restored = EpisodeReplay(N, T, torch.device("cpu"), stored_dtypes={"actions": index_dtype(info.n_actions)})
t = time.perf_counter()
restored.load_state_dict(state, out)
load = time.perf_counter() - t
print(json.dumps({"buffer_bytes": nbytes, "peak_rss_fill": peak_fill, "saves": saves, "load_s": load,
                  "peak_rss_total": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def test_a_full_mmm2_buffer_checkpoints_incrementally_within_its_own_size(benchmark, tmp_path):
    def fill():
        done = subprocess.run([sys.executable, "-c", FILL, str(tmp_path / "chunks")], capture_output=True, text=True,
                              check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    result = benchmark.pedantic(fill, rounds=1, iterations=1)
    buffer, saves = result["buffer_bytes"], result["saves"]
    ratio_fill = result["peak_rss_fill"] / buffer
    ratio_total = result["peak_rss_total"] / buffer   # the restored buffer replaces the freed one
    benchmark.extra_info.update({"buffer_gib": buffer / 2**30, "peak_over_buffer_fill": ratio_fill,
                                 "peak_over_buffer_with_restore": ratio_total, "save_seconds": saves,
                                 "last_over_first_save": saves[-1] / saves[0], "restore_seconds": result["load_s"]})
    assert buffer > 6 * 2**30, "not a full-size MMM2 buffer"
    assert ratio_fill <= 1.2 and ratio_total <= 1.2, benchmark.extra_info
    assert saves[-1] / saves[0] < 2.0, saves   # 500 new episodes cost the same at 500 and at 5000 held
