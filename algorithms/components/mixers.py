"""Mixers: combine per-agent utilities Q_a into a joint Q_tot (VDN's sum, QMIX's monotonic hyper-network,
QPLEX's duplex dueling heads, weighted QMIX's unrestricted central mixer, QTRAN's joint Q and V).

Every mixer takes one :class:`MixerInput`, which carries what the value-factorisation family reads:
the utilities of the actions valued, all utilities, the actions valued and the greedy ones, the
state and the agent mask (QPLEX's advantages need all utilities and the actions; QTRAN's and
weighted QMIX's central critics the actions; weighted QMIX the greedy ones).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.components.entities import AttentionHyperNet
from algorithms.components.layers import Linear


@dataclass
class MixerInput:
    """Per-step inputs of a mixer over B episodes of T steps and A agents."""

    agent_qs: torch.Tensor                   # [B, T, A] utility of each agent's valued action
    state: torch.Tensor                      # [B, T, S]
    agent_mask: torch.Tensor                 # [B, T, A] float: 1 where the agent exists
    actions: torch.Tensor | None = None      # [B, T, A] long: the actions valued
    all_qs: torch.Tensor | None = None       # [B, T, A, n] every action's utility
    greedy: torch.Tensor | None = None       # [B, T, A] long: each agent's greedy available action
    agent_hidden: torch.Tensor | None = None  # [B, T, A, H] the agents' recurrent states (QTRAN)
    entities: torch.Tensor | None = None      # [B, T, E, d] entity inputs (features + last actions)
    attend: torch.Tensor | None = None        # [B, T, A, E] bool: entities each agent's hyper-row reads
    attend_imagined: torch.Tensor | None = None  # [B, T, 2, A, E] bool: in- and out-group rows (REFIL)

    def padded(self, steps: int) -> "MixerInput":
        """The same inputs zero-padded to ``steps`` steps (dim 1)."""
        def pad(x: torch.Tensor | None) -> torch.Tensor | None:
            if x is None or x.shape[1] >= steps:
                return x
            return torch.cat([x, x.new_zeros((x.shape[0], steps - x.shape[1], *x.shape[2:]))], dim=1)
        return MixerInput(**{f.name: pad(getattr(self, f.name)) for f in fields(self)})


class VDNMixer(nn.Module):
    """VDN: Q_tot = sum_a Q_a (padded agents contribute zero)."""

    def forward(self, x: MixerInput) -> torch.Tensor:
        return (x.agent_qs * x.agent_mask).sum(dim=-1)                 # [B, T]


class QMixer(nn.Module):
    """QMIX: Q_tot = monotonic mix of Q_a with non-negative weights produced from the state."""

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32,
                 hypernet_layers: int = 2, hypernet_embed: int = 64) -> None:
        super().__init__()
        self.n_agents, self.embed_dim = n_agents, embed_dim

        def hyper(out: int) -> nn.Module:
            if hypernet_layers == 1:
                return Linear(state_dim, out)
            return nn.Sequential(Linear(state_dim, hypernet_embed), nn.ReLU(), Linear(hypernet_embed, out))

        self.hyper_w1 = hyper(embed_dim * n_agents)
        self.hyper_w_final = hyper(embed_dim)
        self.hyper_b1 = Linear(state_dim, embed_dim)
        self.V = nn.Sequential(Linear(state_dim, embed_dim), nn.ReLU(), Linear(embed_dim, 1))

    def forward(self, x: MixerInput) -> torch.Tensor:
        B, T, A = x.agent_qs.shape
        s = x.state.reshape(B * T, -1)                                            # [BT, S]
        qs = (x.agent_qs * x.agent_mask).reshape(B * T, 1, A)                     # [BT, 1, A]
        w1 = self.hyper_w1(s).abs().view(-1, A, self.embed_dim)                   # [BT, A, E]
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)                         # [BT, 1, E]
        hidden = F.elu(torch.bmm(qs, w1) + b1)                                    # [BT, 1, E]
        w_final = self.hyper_w_final(s).abs().view(-1, self.embed_dim, 1)         # [BT, E, 1]
        v = self.V(s).view(-1, 1, 1)                                              # [BT, 1, 1]
        return (torch.bmm(hidden, w_final) + v).view(B, T)                        # [B, T]


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class DuplexAttention(nn.Module):
    """QPLEX's importance weights λ_i(s, u) > 0: a sum over K heads of |key_k(s)| · σ(agents_k(s))_i ·
    σ(actions_k(s, u))_i, with the joint action given one-hot."""

    def __init__(self, n_agents: int, n_actions: int, state_dim: int, heads: int = 4, layers: int = 1,
                 embed: int = 64) -> None:
        super().__init__()
        self.n_actions = n_actions

        def extractor(inp: int, out: int) -> nn.Sequential:
            return _mlp([inp] + [embed] * (layers - 1) + [out])

        self.keys = nn.ModuleList(extractor(state_dim, 1) for _ in range(heads))
        self.agents = nn.ModuleList(extractor(state_dim, n_agents) for _ in range(heads))
        self.actions = nn.ModuleList(extractor(state_dim + n_agents * n_actions, n_agents) for _ in range(heads))

    def forward(self, s: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``s [N, S]``, ``actions [N, A]`` long → λ ``[N, A]``."""
        su = torch.cat([s, F.one_hot(actions, self.n_actions).float().flatten(1)], dim=-1)   # [N, S + A n]
        lam = 0.0
        for key, agents, acts in zip(self.keys, self.agents, self.actions):
            lam = lam + (key(s).abs() + 1e-10) * torch.sigmoid(agents(s)) * torch.sigmoid(acts(su))
        return lam                                                                 # [N, A]


class QPLEXMixer(nn.Module):
    """QPLEX (Wang et al. 2021), the duplex dueling mixer of its general form (DMAQ): per-agent
    transformation Q_i ← w_i(s) Q_i + b_i(s) (w_i > 0), V_i = w_i max_a Q_i + b_i, A_i = Q_i − V_i ≤ 0, and

        Q_tot = Σ_i Q_i + Σ_i (λ_i(s, u) − 1) · sg(A_i)

    which equals Σ V_i + Σ λ_i A_i, so argmax_u Q_tot is the agents' own argmaxes (IGM). The advantage
    branch trains λ only (sg: stop-gradient), as the authors' code does; ``max_a Q_i`` is read at the
    greedy available action, with no gradient."""

    def __init__(self, n_agents: int, n_actions: int, state_dim: int, hypernet_embed: int = 64,
                 heads: int = 4, attention_layers: int = 1, attention_embed: int = 64) -> None:
        super().__init__()
        self.hyper_w = _mlp([state_dim, hypernet_embed, n_agents])
        self.hyper_b = _mlp([state_dim, hypernet_embed, n_agents])
        self.attention = DuplexAttention(n_agents, n_actions, state_dim, heads, attention_layers, attention_embed)

    def forward(self, x: MixerInput) -> torch.Tensor:
        B, T, A = x.agent_qs.shape
        s = x.state.reshape(B * T, -1)                                              # [BT, S]
        mask = x.agent_mask.reshape(B * T, A)                                       # [BT, A]
        q = x.agent_qs.reshape(B * T, A)                                            # [BT, A]
        q_max = x.all_qs.detach().gather(-1, x.greedy.unsqueeze(-1)).squeeze(-1).reshape(B * T, A)
        w = self.hyper_w(s).abs() + 1e-10                                           # [BT, A]
        b = self.hyper_b(s)                                                         # [BT, A]
        q_i = (w * q + b) * mask                                                    # [BT, A]
        adv = (w * (q - q_max) * mask).detach()                                     # [BT, A] ≤ 0
        lam = self.attention(s, x.actions.reshape(B * T, A))                        # [BT, A]
        return (q_i.sum(-1) + ((lam - 1.0) * adv).sum(-1)).view(B, T)             # [B, T]


class CentralMixer(nn.Module):
    """Weighted QMIX's unrestricted joint value Q̂*(s, u): a feed-forward network on the state and the
    central agents' utilities of u, plus V(s); no monotonicity constraint."""

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 256, layers: int = 3) -> None:
        super().__init__()
        self.net = _mlp([state_dim + n_agents] + [embed_dim] * layers + [1])
        self.V = _mlp([state_dim, embed_dim, 1])

    def forward(self, x: MixerInput) -> torch.Tensor:
        B, T, A = x.agent_qs.shape
        inputs = torch.cat([x.state, x.agent_qs * x.agent_mask], dim=-1)          # [B, T, S + A]
        return (self.net(inputs) + self.V(x.state)).squeeze(-1)                  # [B, T]


class QTRANJoint(nn.Module):
    """QTRAN-base's joint networks: Q_jt(τ, u) from the state and the sum over agents of an encoding of
    (hidden state h_i, one-hot u_i), and V_jt(s) from the state. Returns ``(Q_jt [B, T], V_jt [B, T])``."""

    def __init__(self, n_actions: int, state_dim: int, hidden_dim: int, embed_dim: int = 64) -> None:
        super().__init__()
        self.n_actions = n_actions
        enc = hidden_dim + n_actions
        self.encoder = _mlp([enc, enc, enc])
        self.Q = _mlp([state_dim + enc, embed_dim, embed_dim, 1])
        self.V = _mlp([state_dim, embed_dim, embed_dim, 1])

    def forward(self, x: MixerInput) -> tuple[torch.Tensor, torch.Tensor]:
        u = F.one_hot(x.actions, self.n_actions).float()                           # [B, T, A, n]
        enc = self.encoder(torch.cat([x.agent_hidden, u], dim=-1))                 # [B, T, A, H + n]
        joint = (enc * x.agent_mask.unsqueeze(-1)).sum(dim=2)                      # [B, T, H + n]
        q = self.Q(torch.cat([x.state, joint], dim=-1)).squeeze(-1)               # [B, T]
        return q, self.V(x.state).squeeze(-1)                                      # [B, T], [B, T]


def entity_rows(x: MixerInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An entity mixer's inputs flattened over steps: entities ``[BT, E, d]``, what each agent's
    hyper-row attends to ``[BT, A, E]`` and which agents' rows exist ``[BT, A]``."""
    B, T, A, E = x.attend.shape
    return (x.entities.reshape(B * T, E, -1), x.attend.reshape(B * T, A, E),
            x.agent_mask[..., :A].reshape(B * T, A))


def utility_rows(hyper: nn.Module, x: MixerInput, ent: torch.Tensor, attend: torch.Tensor,
                 rows: torch.Tensor) -> torch.Tensor:
    """A hyper-network's row for each utility mixed ``[BT, Aq, out]``: one per agent, or, with 2A
    imagined utilities (REFIL), agent i's in-group row (attending within its group) then its
    out-group row (across it)."""
    if x.agent_qs.shape[-1] == attend.shape[1]:
        return hyper(ent, attend, rows)
    groups = x.attend_imagined.reshape(attend.shape[0], 2, *attend.shape[1:])
    return torch.cat([hyper(ent, groups[:, 0], rows), hyper(ent, groups[:, 1], rows)], dim=1)


class EntityQMixer(nn.Module):
    """Attention QMIX's mixer (REFIL's "flex" QMIX): QMIX's monotonic mix whose weights come from
    attention hyper-networks over the entity state, one row per agent, so it mixes any number of agents.
    W1 is per agent; b1, w_final and V average the agents' rows. Weights are made positive by a softmax
    over the mixing width (REFIL's SMAC setting) or by abs. With 2A utilities (REFIL's imagined
    in-group and out-group utilities), agent i's two W1 rows attend only within its group and only
    across it (``attend_imagined``)."""

    def __init__(self, entity_input_dim: int, embed_dim: int = 32, hypernet_embed: int = 128,
                 heads: int = 4, softmax_weights: bool = True) -> None:
        super().__init__()
        self.softmax_weights = softmax_weights
        self.hyper_w1 = AttentionHyperNet(entity_input_dim, embed_dim, hypernet_embed, heads)
        self.hyper_b1 = AttentionHyperNet(entity_input_dim, embed_dim, hypernet_embed, heads)
        self.hyper_w_final = AttentionHyperNet(entity_input_dim, embed_dim, hypernet_embed, heads)
        self.hyper_v = AttentionHyperNet(entity_input_dim, 1, hypernet_embed, heads)

    def _positive(self, w: torch.Tensor) -> torch.Tensor:
        return w.softmax(dim=-1) if self.softmax_weights else w.abs()

    def forward(self, x: MixerInput) -> torch.Tensor:
        B, T, Aq = x.agent_qs.shape
        ent, attend, rows = entity_rows(x)
        w1 = self._positive(utility_rows(self.hyper_w1, x, ent, attend, rows))     # [BT, Aq, embed]
        b1 = self.hyper_b1(ent, attend, rows).mean(dim=1, keepdim=True)           # [BT, 1, embed]
        w_final = self._positive(self.hyper_w_final(ent, attend, rows).mean(dim=1))   # [BT, embed]
        v = self.hyper_v(ent, attend, rows).mean(dim=(1, 2))                      # [BT]
        qs = (x.agent_qs * x.agent_mask).reshape(B * T, 1, Aq)                    # [BT, 1, Aq]
        hidden = F.elu(torch.bmm(qs, w1) + b1)                                    # [BT, 1, embed]
        return ((hidden.squeeze(1) * w_final).sum(dim=-1) + v).view(B, T)         # [B, T]


class EntityLinearMixer(nn.Module):
    """MIPI's mixer: Q_jt = Σ_i w_i(s) Q_i + b(s) with w_i ≥ 0 (|·|), linear in the utilities (no
    non-linearity), the weights and bias from attention hyper-networks over the entity state (one row
    per agent, as :class:`EntityQMixer`), so it mixes any number of agents. Being linear, the mix of
    each agent's expected utility E_π[Q_i] is the expected Q_jt under the product policy. With 2A
    utilities (imagined in- and out-group ones) agent i's two weight rows attend within its group and
    across it."""

    def __init__(self, entity_input_dim: int, hypernet_embed: int = 128, heads: int = 4) -> None:
        super().__init__()
        self.hyper_w = AttentionHyperNet(entity_input_dim, 1, hypernet_embed, heads)
        self.hyper_b = AttentionHyperNet(entity_input_dim, 1, hypernet_embed, heads)

    def forward(self, x: MixerInput) -> torch.Tensor:
        B, T, Aq = x.agent_qs.shape
        ent, attend, rows = entity_rows(x)
        w = utility_rows(self.hyper_w, x, ent, attend, rows)                      # [BT, Aq, 1]
        b = self.hyper_b(ent, attend, rows).sum(dim=(1, 2)) / rows.sum(dim=1).clamp(min=1.0)   # [BT]
        qs = (x.agent_qs * x.agent_mask).reshape(B * T, Aq)                       # [BT, Aq]
        return ((w.abs().squeeze(-1) * qs).sum(dim=-1) + b).view(B, T)           # [B, T]
