"""Unit tests of the entity-attention family (attention VDN/QMIX, REFIL): attention respects what each
agent may see, one set of parameters serves any team size, the attention mixer is monotonic, and
REFIL's sub-group partition and masks are as the paper specifies."""
import pytest
import torch

from algorithms.components.entities import EntityAgent, EntityAttention, EntityController, with_last_actions
from algorithms.components.mixers import EntityQMixer, MixerInput
from algorithms.value.refil import draw_groups, imagined_masks


def test_attention_ignores_entities_a_query_may_not_see_and_a_blind_query_gets_the_bias():
    torch.manual_seed(0)
    att = EntityAttention(16, 4)
    x = torch.randn(2, 5, 16)
    allowed = torch.ones(2, 2, 5, dtype=torch.bool)
    allowed[:, 0, 3] = False                      # query 0 does not see entity 3
    allowed[1, 1] = False                         # query 1 of sample 1 sees nothing
    changed = x.clone()
    changed[:, 3] += 10.0
    out, out_changed = att(x, allowed), att(changed, allowed)
    assert torch.allclose(out[:, 0], out_changed[:, 0])
    assert not torch.allclose(out[0, 1], out_changed[0, 1])     # query 1 of sample 0 does see it
    assert torch.allclose(out[1, 1], att.out.bias)
    assert torch.isfinite(out).all()


def test_attention_gradients_stay_finite_for_blind_queries():
    att = EntityAttention(8, 2)
    x = torch.randn(1, 3, 8, requires_grad=True)
    att(x, torch.zeros(1, 2, 3, dtype=torch.bool)).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in att.parameters() if p.grad is not None)


def test_previous_actions_go_on_the_agents_rows_only():
    ent = torch.zeros(1, 4, 2)
    out = with_last_actions(ent, torch.tensor([[2, 0]]), n_agents=2, n_actions=3)
    assert out.shape == (1, 4, 5)
    assert out[0, :, 2:].tolist() == [[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_one_controller_acts_for_any_team_size_and_an_agent_reads_only_what_it_sees():
    """The same parameters act for 2 agents among 5 entities and for 4 among 8 (padding), and an
    agent's utilities do not move when an entity it does not see changes."""
    torch.manual_seed(0)
    ctrl = EntityController(n_agents=4, n_actions=5, agent=EntityAgent(3 + 5, 5, embed_dim=16, heads=2, hidden_dim=8))
    ent = torch.randn(1, 8, 3)
    sees = torch.zeros(1, 4, 8, dtype=torch.bool)
    sees[:, :2, [0, 1, 4, 5]] = True              # agents 0, 1 see each other and enemies 4, 5
    q, _ = ctrl(ent, sees, None, ctrl.init_hidden(1, torch.device("cpu")))
    assert q.shape == (1, 4, 5)
    changed = ent.clone()
    changed[:, 6] = 5.0                            # an enemy nobody sees
    q2, _ = ctrl(changed, sees, None, ctrl.init_hidden(1, torch.device("cpu")))
    assert torch.allclose(q[:, :2], q2[:, :2])


def test_attention_qmix_mixer_is_monotonic_in_every_agents_utility():
    torch.manual_seed(0)
    for softmax_weights in (True, False):
        mixer = EntityQMixer(entity_input_dim=6, embed_dim=8, hypernet_embed=16, heads=2,
                             softmax_weights=softmax_weights)
        B, T, A, E = 4, 3, 3, 6
        qs = torch.randn(B, T, A, requires_grad=True)
        x = MixerInput(qs, torch.zeros(B, T, 1), torch.ones(B, T, A), entities=torch.randn(B, T, E, 6),
                       attend=torch.ones(B, T, A, E, dtype=torch.bool))
        mixer(x).sum().backward()
        assert bool((qs.grad >= 0).all())


def test_refil_partition_is_drawn_per_episode_with_a_random_group_share():
    groups = draw_groups(4000, 16, torch.Generator().manual_seed(0))
    share = groups.float().mean(dim=1)                                   # each episode's p
    assert groups.shape == (4000, 16) and groups.dtype == torch.bool
    # p ~ U(0, 1): shares spread over [0, 1] (not all near 1/2, as one fixed p would give)
    assert share.std() > 0.25 and 0.45 < share.mean() < 0.55
    assert (share == 0).any() and (share == 1).any()


class _Batch:
    """What imagined_masks reads of a batch: actions (for A), obs_mask, agent_mask, entity_mask."""

    def __init__(self, obs_mask, agent_mask, entity_mask):
        B, T1, A, _ = obs_mask.shape
        self.actions = torch.zeros(B, T1 - 1, A, dtype=torch.long)
        self.obs_mask, self.agent_mask, self.entity_mask = obs_mask, agent_mask, entity_mask


def test_refil_masks_split_what_an_agent_sees_into_its_group_and_the_other():
    B, T1, A, E = 2, 3, 3, 6
    g = torch.Generator().manual_seed(1)
    obs = torch.rand(B, T1, A, E, generator=g) > 0.3
    entity_mask = torch.ones(B, T1, E, dtype=torch.bool)
    entity_mask[:, :, 5] = False                                        # one absent enemy
    agent_mask = torch.ones(B, T1, A, dtype=torch.bool)
    groups = torch.tensor([[True, False, True, False, False, True], [False] * 6])
    agents, rows = imagined_masks(groups, _Batch(obs, agent_mask, entity_mask))
    inside, across = agents[:, :, 0], agents[:, :, 1]
    assert torch.equal(inside | across, obs) and not (inside & across).any()
    same = groups[:, :A, None] == groups[:, None, :]                      # [B, A, E]
    assert torch.equal(inside, obs & same[:, None]) and torch.equal(across, obs & ~same[:, None])
    for a in range(A):                                                    # nobody attends to itself across groups
        assert not across[:, :, a, a].any()
    assert not across[1].any()                                            # one group only: nothing across
    present = agent_mask.unsqueeze(-1) & entity_mask.unsqueeze(-2)
    assert torch.equal(rows[:, :, 0] | rows[:, :, 1], present)
