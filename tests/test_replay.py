"""Episode replay: uniform sampling of distinct episodes, ring overwrite, compact storage, and
checkpoints that write only the episodes added since the previous one."""
import pytest
import torch

from algorithms.components.replay import EpisodeBatch, EpisodeReplay, index_dtype, prune

A, OBS, N_ACT, T_MAX = 2, 3, 5, 6


def _batch(first_id: int, n: int, length: int) -> EpisodeBatch:
    """n episodes of ``length`` steps whose observations carry their episode number."""
    T = length
    ids = torch.arange(first_id, first_id + n, dtype=torch.float32).view(n, 1, 1, 1)
    return EpisodeBatch(
        obs=ids.expand(n, T + 1, A, OBS).clone(), state=torch.zeros(n, T + 1, 4),
        avail_actions=torch.ones(n, T + 1, A, N_ACT, dtype=torch.bool),
        agent_mask=torch.ones(n, T + 1, A, dtype=torch.bool),
        actions=torch.randint(0, N_ACT, (n, T, A)), reward=torch.ones(n, T),
        terminated=torch.zeros(n, T, dtype=torch.bool), truncated=torch.zeros(n, T, dtype=torch.bool),
        filled=torch.ones(n, T, dtype=torch.bool))


def _replay(capacity: int = 10) -> EpisodeReplay:
    return EpisodeReplay(capacity, T_MAX, torch.device("cpu"), stored_dtypes={"actions": index_dtype(N_ACT)})


def _ids(replay: EpisodeReplay) -> list[int]:
    return sorted(int(x) for x in replay.storage["obs"][: replay.size, 0, 0, 0])


def test_sampling_draws_distinct_episodes_uniformly():
    replay = _replay(capacity=8)
    replay.insert(_batch(0, 8, 3))
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(8)
    for _ in range(2000):
        batch = replay.sample(4, gen)
        ids = batch.obs[:, 0, 0, 0].long()
        assert len(set(ids.tolist())) == 4
        counts[ids] += 1
    from scipy import stats

    assert stats.chisquare(counts.numpy()).pvalue > 0.01


def test_a_full_buffer_overwrites_its_oldest_episodes():
    replay = _replay(capacity=5)
    for first in range(0, 12, 3):
        replay.insert(_batch(first, 3, 2))
    assert replay.size == 5 and replay.inserted == 12 and _ids(replay) == [7, 8, 9, 10, 11]


def test_samples_are_cut_to_their_longest_episode_and_keep_the_batch_dtypes():
    replay = _replay()
    replay.insert(_batch(0, 2, 2))
    replay.insert(_batch(2, 2, 4))
    assert replay.storage["actions"].dtype == torch.uint8
    batch = replay.sample(4, torch.Generator().manual_seed(0))
    assert batch.max_t == 4 and batch.obs.shape[1] == 5 and batch.actions.dtype == torch.long
    short = batch.obs[:, 0, 0, 0] < 2
    assert not batch.filled[short][:, 2:].any()


def test_index_dtype_is_the_smallest_that_holds_the_actions():
    assert [index_dtype(n) for n in (2, 256, 257, 40_000)] == [torch.uint8, torch.uint8, torch.int16, torch.int32]


def test_each_checkpoint_writes_only_the_episodes_added_since_the_last(tmp_path):
    replay = _replay(capacity=10)
    replay.insert(_batch(0, 4, 3))
    replay.persist(tmp_path)
    replay.insert(_batch(4, 3, 3))
    replay.persist(tmp_path)
    replay.persist(tmp_path)   # nothing new: no file
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["000000000000-000000000004.pt", "000000000004-000000000007.pt"]
    second = torch.load(tmp_path / files[1], weights_only=True)
    assert second["obs"].shape[0] == 3 and second["obs"][:, 0, 0, 0].tolist() == [4, 5, 6]


def test_a_restored_buffer_equals_the_saved_one_after_wrapping(tmp_path):
    replay = _replay(capacity=5)
    for first, length in ((0, 3), (3, 6), (6, 2), (8, 4)):   # 11 episodes through 5 slots
        replay.insert(_batch(first, 3 if first < 8 else 3, length))
        replay.persist(tmp_path)
    state = replay.state_dict()
    prune(tmp_path, {c[0] for c in replay.chunks})
    assert len(list(tmp_path.iterdir())) == len(state["chunks"]) < 4   # overwritten chunks are gone
    restored = _replay(capacity=5)
    restored.load_state_dict(state, tmp_path)
    assert restored.inserted == replay.inserted and restored.index == replay.index
    for k, v in replay.storage.items():
        assert torch.equal(restored.storage[k], v), k
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = replay.sample(4, g1), restored.sample(4, g2)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("obs", "actions", "filled"))


def test_a_chunk_left_by_a_kill_before_its_checkpoint_is_ignored(tmp_path):
    replay = _replay()
    replay.insert(_batch(0, 3, 2))
    replay.persist(tmp_path)
    state = replay.state_dict()                  # the checkpoint that made it to disk
    replay.insert(_batch(3, 2, 2))
    replay.persist(tmp_path)                     # killed before the checkpoint after this
    restored = _replay()
    restored.load_state_dict(state, tmp_path)
    assert restored.inserted == 3 and _ids(restored) == [0, 1, 2]
    prune(tmp_path, {c[0] for c in restored.chunks})
    assert [p.name for p in tmp_path.iterdir()] == ["000000000000-000000000003.pt"]


def test_state_dict_before_persist_is_refused():
    replay = _replay()
    replay.insert(_batch(0, 1, 2))
    with pytest.raises(RuntimeError, match="persist"):
        replay.state_dict()


def test_an_empty_slot_costs_no_memory_until_written(tmp_path):
    """A 5000-episode buffer of long episodes is not zeroed up front (that took half a minute and its
    whole size in memory before the first episode): inserting the first episodes into a buffer of
    about 0.7 GiB leaves resident memory far below its size; the episodes read back exact."""
    import os

    def resident() -> int:   # bytes of this process now in memory (Linux)
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    replay = EpisodeReplay(5000, 2000, torch.device("cpu"))
    before = resident()
    replay.insert(_batch(0, 3, 2))
    replay.insert(_batch(3, 2, 5))
    assert replay.nbytes() > 2**29
    grown = resident() - before
    assert grown < replay.nbytes() / 8, f"resident memory grew by {grown / 2**30:.1f} GiB"
    assert _ids(replay) == [0, 1, 2, 3, 4]
    batch = replay.sample(5, torch.Generator().manual_seed(0))
    short = batch.obs[:, 0, 0, 0] < 3                     # episodes 0-2 are 2 steps long: zero padding after
    assert batch.max_t == 5 and not batch.filled[short, 2:].any() and batch.obs[short, 3:].eq(0).all()
