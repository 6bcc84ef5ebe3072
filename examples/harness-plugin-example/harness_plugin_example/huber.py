"""The TD objective with a Huber loss in place of the squared error: TD errors beyond ``delta`` pull
linearly, so rare large errors (big payoffs, early targets) do not dominate an update."""
from __future__ import annotations

import torch

from algorithms.components.learners import TDLearner, TDLoss, taken_mean
from algorithms.components.replay import EpisodeBatch


def masked_huber(error: torch.Tensor, mask: torch.Tensor, delta: float) -> torch.Tensor:
    """Mean Huber loss of ``error`` over the entries ``mask`` marks real (any shape, ``mask`` alike)."""
    size = (error * mask).abs()                                # same shape as error
    quadratic = size.clamp(max=delta)
    per_entry = 0.5 * quadratic ** 2 + delta * (size - quadratic)
    return per_entry.sum() / mask.sum().clamp(min=1.0)


class HuberTDLoss(TDLoss):
    """:class:`TDLoss` whose objective is the Huber loss of the TD error (targets unchanged)."""

    def __init__(self, learner: TDLearner, delta: float) -> None:
        super().__init__(learner)
        self.delta = delta

    def objective(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = self.learner[0].td_terms(batch)     # chosen, y, mask: [B, T] (Q_tot) with a mixer
        loss = masked_huber(terms.chosen - terms.y, terms.mask, self.delta)
        return loss, {"q_taken_mean": taken_mean(terms.agent_q, batch)}
