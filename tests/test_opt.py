"""Unit tests of OPT's pieces: the contrastive disagreement loss prefers distinct prototypes, agents read
only the entities they see, the OPT mixer is monotonic, the auxiliary terms are well-formed, and the
ablation switches change what they name."""
import math

import pytest
import torch

from algorithms.components.mixers import MixerInput
from algorithms.components.opt import OPTAgent, OPTMixer, PrototypeAttention, disagreement_loss


def test_disagreement_loss_is_lower_for_distinct_prototypes_than_for_identical_ones():
    distinct = torch.eye(4).mul(3.0).unsqueeze(0)              # [1, N=4, d=4] orthogonal prototypes
    identical = torch.ones(1, 4, 4).mul(1.5)                    # the same vector four times
    assert disagreement_loss(distinct).item() < disagreement_loss(identical).item()
    assert disagreement_loss(identical).item() == pytest.approx(math.log(4))   # no prototype stands out
    assert disagreement_loss(distinct).item() == pytest.approx(math.log1p(3 * math.exp(-9)), rel=1e-3)


def test_prototype_attention_with_sparsemax_puts_exact_zeros_on_weak_entities():
    torch.manual_seed(0)
    att = PrototypeAttention(dim=8, prototypes=2, sparse=True)
    x = torch.randn(1, 6, 8) * 3
    allowed = torch.ones(1, 6, 6, dtype=torch.bool)
    q, k = att.w_q(x).view(1, 6, 2, 8).transpose(1, 2), att.w_k(x).view(1, 6, 2, 8).transpose(1, 2)
    from algorithms.components.sparsemax import sparsemax
    weights = sparsemax((q @ k.transpose(-1, -2)) / math.sqrt(8), dim=-1)
    assert (weights == 0).any() and torch.allclose(weights.sum(-1), torch.ones(1, 2, 6))
    out, heads, omega = att(x, allowed, x.mean(1))
    assert out.shape == (1, 6, 8) and heads.shape == (1, 6, 2, 8) and torch.allclose(omega.sum(-1), torch.ones(1))
    soft = PrototypeAttention(dim=8, prototypes=2, sparse=False)
    soft.load_state_dict(att.state_dict())
    assert not torch.allclose(soft(x, allowed, x.mean(1))[0], out)     # the softmax ablation differs


def test_an_opt_agent_reads_only_the_entities_it_sees():
    torch.manual_seed(0)
    agent = OPTAgent(input_dim=5, n_actions=4, dim=16, prototypes=4, blocks=2, hidden_dim=8)
    ent = torch.randn(1, 6, 5)
    sees = torch.zeros(1, 2, 6, dtype=torch.bool)
    sees[0, 0, [0, 2, 3]] = True                                # agent 0 sees itself and entities 2, 3
    sees[0, 1, [1, 4, 5]] = True                                # agent 1 sees itself and entities 4, 5
    hidden = torch.zeros(1, 2, 8)
    q, _, aux = agent(ent, sees, hidden)
    changed = ent.clone()
    changed[0, 4] += 5.0                                        # only agent 1 sees entity 4
    q2, _, _ = agent(changed, sees, hidden)
    assert torch.allclose(q[0, 0], q2[0, 0]) and not torch.allclose(q[0, 1], q2[0, 1])
    assert set(aux) == {"cd", "kl", "entropy"} and all(v.shape == (1, 2) for v in aux.values())
    assert (aux["kl"] >= -1e-6).all() and (aux["entropy"] <= 2 * math.log(4) + 1e-5).all()


def test_opt_mixer_is_monotonic_in_every_agents_utility():
    torch.manual_seed(0)
    mixer = OPTMixer(entity_input_dim=6, dim=16, prototypes=4, blocks=2, embed_dim=8)
    B, T, A, E = 3, 2, 3, 6
    qs = torch.randn(B, T, A, requires_grad=True)
    agent_mask = torch.ones(B, T, A)
    agent_mask[0, :, 2] = 0
    x = MixerInput(qs, torch.zeros(B, T, 1), agent_mask, entities=torch.randn(B, T, E, 6),
                   attend=torch.ones(B, T, A, E, dtype=torch.bool))
    q_tot, cd = mixer(x)
    q_tot.sum().backward()
    assert q_tot.shape == (B, T) and cd.shape == (B, T)
    assert bool((qs.grad >= 0).all()) and bool((qs.grad[0, :, 2] == 0).all())   # an absent agent counts for nothing
