"""OPT's interaction-pattern transformer (Liu et al., "Interaction Pattern Disentangling for
Multi-Agent Reinforcement Learning"): attention whose N heads are interaction prototypes, weighted by
sparsemax over the entities each query may attend to (disentangling), then mixed by a softmax
selector ω over the prototypes computed from the pooled entities (restructuring).

A block is post-LayerNorm: x ← LN(x + Σ_n ω_n P_n V_n), x ← LN(x + FFN(x)) with FFN d → 4d → d.
Each prototype has full-width projections (W_Q, W_K, W_V ∈ R^{d×d}). Besides its output a block
returns what OPT's two auxiliary losses read: every prototype's output y_n (the contrastive
disagreement loss, eq. 8) and the selector's inputs and weights (the conditional mutual information
loss with a history posterior, eq. 10).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.components.layers import GRUCell, Linear
from algorithms.components.sparsemax import sparsemax


class PrototypeAttention(nn.Module):
    """N interaction prototypes over M entities, sparsemax-weighted (softmax for the ablation)."""

    def __init__(self, dim: int, prototypes: int, sparse: bool = True) -> None:
        super().__init__()
        self.dim, self.n, self.sparse = dim, prototypes, sparse
        self.w_q = Linear(dim, prototypes * dim, bias=False)
        self.w_k = Linear(dim, prototypes * dim, bias=False)
        self.w_v = Linear(dim, prototypes * dim, bias=False)
        self.select = Linear(dim, prototypes)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor,
                pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [S, M, d]``, ``allowed [S, M, M]`` bool (query row, key column), ``pooled [S, d]`` →
        the restructured output ``[S, M, d]``, the prototypes' outputs ``[S, M, N, d]`` and ω ``[S, N]``.
        A query allowed nothing gets zero from every prototype."""
        S, M, d = x.shape
        q, k, v = (w(x).view(S, M, self.n, d).transpose(1, 2) for w in (self.w_q, self.w_k, self.w_v))  # [S, N, M, d]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)                         # [S, N, M, M]
        scores = scores.masked_fill(~allowed[:, None], -1e9)
        weights = sparsemax(scores, dim=-1) if self.sparse else scores.softmax(dim=-1)
        weights = weights * allowed.any(dim=-1)[:, None, :, None].float()
        heads = (weights @ v).transpose(1, 2)                                      # [S, M, N, d]
        omega = self.select(pooled).softmax(dim=-1)                                # [S, N]
        return (heads * omega[:, None, :, None]).sum(dim=2), heads, omega


@dataclass
class BlockOut:
    """What one block hands the auxiliary losses."""

    heads: torch.Tensor     # [S, M, N, d] each prototype's output
    omega: torch.Tensor     # [S, N] the selector's weights
    pooled: torch.Tensor    # [S, d] what the selector read


class OPTBlock(nn.Module):
    """One post-LN transformer block with prototype attention."""

    def __init__(self, dim: int, prototypes: int, sparse: bool = True) -> None:
        super().__init__()
        self.attention = PrototypeAttention(dim, prototypes, sparse)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(Linear(dim, 4 * dim), nn.ReLU(), Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, pool: torch.Tensor) -> tuple[torch.Tensor, BlockOut]:
        """``pool [S, M]``: the weights of the entities in the selector's pooled input."""
        pooled = (pool.unsqueeze(-1) * x).sum(dim=1)                               # [S, d]
        a, heads, omega = self.attention(x, allowed, pooled)
        x = self.ln1(x + a)
        return self.ln2(x + self.ffn(x)), BlockOut(heads, omega, pooled)


class OPTTransformer(nn.Module):
    """K OPT blocks followed by a linear layer."""

    def __init__(self, dim: int, prototypes: int, blocks: int, sparse: bool = True) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(OPTBlock(dim, prototypes, sparse) for _ in range(blocks))
        self.out = Linear(dim, dim)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, pool: torch.Tensor) -> tuple[torch.Tensor, list[BlockOut]]:
        outs = []
        for block in self.blocks:
            x, o = block(x, allowed, pool)
            outs.append(o)
        return self.out(x), outs


def disagreement_loss(heads: torch.Tensor) -> torch.Tensor:
    """Eq. 8, the contrastive disagreement of the prototypes of each row: with G = Y Yᵀ over the N
    prototype outputs Y ``[..., N, d]``, mean_n −log softmax(G_n)_n (each prototype its own positive,
    the others its negatives) → ``[...]``."""
    gram = heads @ heads.transpose(-1, -2)                                         # [..., N, N]
    return -gram.log_softmax(dim=-1).diagonal(dim1=-2, dim2=-1).mean(dim=-1)


class OPTAgent(nn.Module):
    """OPT's agent on the entity view: entities (with the agents' previous actions) embedded, each agent
    running the transformer over the entities it sees (queries and keys both limited to them, so nothing
    it does not observe reaches it), its own entity's output → linear → ReLU → GRU → utilities. The
    selector pools by summing the visible entities. Returns per-agent auxiliary terms: the disagreement
    loss (mean over visible rows, summed over blocks), and the CMI terms KL(ω ‖ q_ψ) and H(ω) with the
    history posterior q_ψ(ω | h_{t−1}, x̄) (h detached), summed over blocks."""

    def __init__(self, input_dim: int, n_actions: int, dim: int = 32, prototypes: int = 4, blocks: int = 2,
                 hidden_dim: int = 64, sparse: bool = True) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.embed = Linear(input_dim, dim)
        self.transformer = OPTTransformer(dim, prototypes, blocks, sparse)
        self.posterior = nn.ModuleList(Linear(hidden_dim + dim, prototypes) for _ in range(blocks))
        self.fc1 = Linear(dim, hidden_dim)
        self.rnn = GRUCell(hidden_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, n_actions)

    def forward(self, entities: torch.Tensor, sees: torch.Tensor, hidden: torch.Tensor):
        """``entities [B, E, in]``, ``sees [B, A, E]``, ``hidden [B, A, H]`` → utilities ``[B, A, n]``,
        next hidden ``[B, A, H]`` and auxiliary terms ``{cd, kl, entropy}`` each ``[B, A]``."""
        B, E, _ = entities.shape
        A = sees.shape[1]
        x = F.relu(self.embed(entities))                                            # [B, E, d]
        x = x.unsqueeze(1).expand(B, A, E, x.shape[-1]).reshape(B * A, E, -1)       # [BA, E, d] one view per agent
        vis = sees.reshape(B * A, E)
        allowed = vis.unsqueeze(-1) & vis.unsqueeze(-2)                              # [BA, E, E]
        x, outs = self.transformer(x, allowed, vis.float())
        own = x.view(B, A, E, -1)[:, torch.arange(A), torch.arange(A)]              # [B, A, d]
        h = self.rnn(F.relu(self.fc1(own)).reshape(B * A, -1), hidden.reshape(B * A, -1))   # [BA, H]
        q = self.fc2(h).view(B, A, -1)
        rows = vis.float()
        cd = sum((disagreement_loss(o.heads) * rows).sum(-1) / rows.sum(-1).clamp(min=1.0) for o in outs)
        h_prev = hidden.reshape(B * A, -1).detach()
        kl = entropy = 0.0
        for o, posterior in zip(outs, self.posterior):
            log_p = o.omega.clamp(min=1e-12).log()
            log_q = posterior(torch.cat([h_prev, o.pooled], dim=-1)).log_softmax(dim=-1)
            kl = kl + (o.omega * (log_p - log_q)).sum(-1)
            entropy = entropy - (o.omega * log_p).sum(-1)
        aux = {"cd": cd.view(B, A), "kl": kl.view(B, A), "entropy": entropy.view(B, A)}
        return q, h.view(B, A, -1), aux


class OPTMixer(nn.Module):
    """OPT's mixer: the transformer over the entity state (every query may attend to every present
    entity; the selector pools by the mean over entities), the agents' rows x_a feeding QMIX's
    hyper-networks: w0 = softmax over present agents (scaling each utility), W1 = |·| per agent, b1,
    W2 = |·| and V averaged over agents, Q_tot = ELU(q W1 + b1) · W2 + V (monotonic in every Q_a).
    Returns ``(Q_tot [B, T], disagreement loss [B, T])``, the latter averaged over present rows and
    summed over blocks."""

    def __init__(self, entity_input_dim: int, dim: int = 32, prototypes: int = 4, blocks: int = 2,
                 embed_dim: int = 32, sparse: bool = True) -> None:
        super().__init__()
        self.embed = Linear(entity_input_dim, dim)
        self.transformer = OPTTransformer(dim, prototypes, blocks, sparse)
        self.hyper_w0 = Linear(dim, 1)
        self.hyper_w1 = Linear(dim, embed_dim)
        self.hyper_b1 = Linear(dim, embed_dim)
        self.hyper_w2 = Linear(dim, embed_dim)
        self.V = nn.Sequential(Linear(dim, embed_dim), nn.ReLU(), Linear(embed_dim, 1))

    def forward(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, A = x.agent_qs.shape
        E = x.entities.shape[2]
        ent = x.entities.reshape(B * T, E, -1)                                     # [BT, E, in]
        present = x.attend.reshape(B * T, A, E).any(dim=1)                         # [BT, E] entities present
        agents = x.agent_mask.reshape(B * T, A)                                    # [BT, A]
        allowed = present.unsqueeze(1).expand(B * T, E, E)                         # [BT, E, E] keys present
        h, outs = self.transformer(F.relu(self.embed(ent)), allowed,
                                   torch.full((B * T, E), 1.0 / E, device=ent.device))
        xa = h[:, :A] * agents.unsqueeze(-1)                                       # [BT, A, d]
        w0 = self.hyper_w0(xa).squeeze(-1).masked_fill(agents == 0, -1e9).softmax(dim=-1)   # [BT, A]
        qs = (x.agent_qs.reshape(B * T, A) * agents * w0).unsqueeze(1)             # [BT, 1, A]
        w1 = self.hyper_w1(xa).abs()                                               # [BT, A, embed]
        b1 = self.hyper_b1(xa).mean(dim=1, keepdim=True)                           # [BT, 1, embed]
        w2 = self.hyper_w2(xa).abs().mean(dim=1)                                   # [BT, embed]
        v = self.V(xa).mean(dim=(1, 2))                                            # [BT]
        hidden = F.elu(torch.bmm(qs, w1) + b1).squeeze(1)                          # [BT, embed]
        q_tot = ((hidden * w2).sum(dim=-1) + v).view(B, T)
        rows = present.float()
        cd = sum((disagreement_loss(o.heads) * rows).sum(-1) / rows.sum(-1).clamp(min=1.0) for o in outs)
        return q_tot, cd.view(B, T)
