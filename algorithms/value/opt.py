"""OPT (Liu et al.): interaction pattern disentangling for value factorisation on the entity view.

Both the agents and the mixer's hyper-networks read the entities through OPT's transformer
(``components/opt.py``): N interaction prototypes per block, each a sparsemax attention over the
entities (disentangling), recombined by a softmax selector ω (restructuring). Two auxiliary losses
keep the prototypes apart and the selection predictable from the agent's history:

    L = L_TD + α (L_CD^agent + L_CD^mixer) + β L_CMI

- L_CD (eq. 8): for each entity row, the prototypes' outputs y_n as a contrastive classification,
  −log softmax(y_n · y_m over m)_n, averaged over prototypes and rows, summed over blocks.
- L_CMI (eq. 10): KL(ω ‖ q_ψ(ω | h_{t−1}, x̄)) with a history posterior q_ψ on the agent's detached GRU
  state; the authors' code adds the entropy H(ω) (``cmi_entropy``, 0 by default: the paper has none).

Defaults are the paper's (section 5): K = 2 blocks, N = 4 prototypes, d_x = 32, α = 0.5, β = 0.1, ε
annealed over 500k steps for multi-task sets; the authors' released config uses α = 0.05 (agent and
mixer) and 0.01 for both CMI terms. Ablations: ``sparse: false`` (softmax), ``cd_alpha: 0`` (no CD),
``cmi_beta: 0`` (no CMI), ``prototypes`` 2–8. Agents run the transformer over the entities each sees
(queries and keys), so nothing an agent does not observe reaches it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from algorithms.components.entities import EntityController
from algorithms.components.learners import TDLoss, masked_mean, masked_mse, taken_mean
from algorithms.components.opt import OPTAgent, OPTMixer
from algorithms.components.replay import EpisodeBatch
from algorithms.registry import register
from algorithms.value.attention import EntityConfig, EntityValueBased


@dataclass(frozen=True)
class OPTConfig(EntityConfig):
    opt_dim: int = 32                 # d_x
    prototypes: int = 4               # N
    blocks: int = 2                   # K
    mixer_opt_dim: int = 32
    mixer_prototypes: int = 4
    mixer_blocks: int = 2
    sparse: bool = True               # sparsemax prototype attention (False: softmax, the ablation)
    cd_alpha: float = 0.5             # α: weight of the agent's and the mixer's CD losses
    cmi_beta: float = 0.1             # β: weight of KL(ω ‖ q_ψ)
    cmi_entropy: float = 0.0          # weight of H(ω) (the authors' code: 0.01)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("opt_dim", "prototypes", "blocks", "mixer_opt_dim", "mixer_prototypes", "mixer_blocks"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        for key in ("cd_alpha", "cmi_beta", "cmi_entropy"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be non-negative, got {getattr(self, key)}")


class OPTLoss(TDLoss):
    """TD loss on the OPT mixer's Q_tot plus the CD losses of agents and mixer and the CMI terms."""

    def __init__(self, learner, cd_alpha: float, cmi_beta: float, cmi_entropy: float) -> None:
        super().__init__(learner)
        self.cd_alpha, self.cmi_beta, self.cmi_entropy = cd_alpha, cmi_beta, cmi_entropy

    def objective(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        q, aux = self.online["controller"].unroll(batch, with_aux=True)            # [B, T+1, A, n], {[B, T+1, A]}
        terms = self.learner[0].td_terms(batch, q)                                 # the mixer's aux: its CD [B, T]
        mask = terms.mask                                                          # [B, T]
        td_loss = masked_mse(terms.chosen - terms.y, mask)
        cd_agent = masked_mean(aux["cd"][:, :-1].mean(dim=-1), mask)
        cd_mix = masked_mean(terms.mixer_aux, mask)
        kl = masked_mean(aux["kl"][:, :-1].mean(dim=-1), mask)
        entropy = masked_mean(aux["entropy"][:, :-1].mean(dim=-1), mask)
        loss = td_loss + self.cd_alpha * (cd_agent + cd_mix) + self.cmi_beta * kl + self.cmi_entropy * entropy
        return loss, {"q_taken_mean": taken_mean(terms.agent_q, batch), "td_loss": td_loss.detach(),
                      "cd_agent": cd_agent.detach(), "cd_mixer": cd_mix.detach(), "cmi_kl": kl.detach(),
                      "selector_entropy": entropy.detach()}


@register
class OPT(EntityValueBased):
    """OPT agents and OPT mixer on the entity view, trained on TD plus the CD and CMI losses."""

    name = "opt"
    config_cls = OPTConfig

    def build_controller(self, info, config: OPTConfig):
        agent = OPTAgent(info.entity_dim + info.n_actions, info.n_actions, config.opt_dim, config.prototypes,
                         config.blocks, config.rnn_hidden_dim, config.sparse)
        return EntityController(info.n_agents, info.n_actions, agent)

    def build_mixer(self, info, config: OPTConfig):
        return OPTMixer(info.entity_dim + info.n_actions, config.mixer_opt_dim, config.mixer_prototypes,
                        config.mixer_blocks, config.mixing_embed_dim, config.sparse)

    def build_loss(self, config: OPTConfig):
        return partial(OPTLoss, cd_alpha=config.cd_alpha, cmi_beta=config.cmi_beta, cmi_entropy=config.cmi_entropy)
