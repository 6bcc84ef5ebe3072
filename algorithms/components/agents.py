"""Per-agent networks (recurrent or feed-forward) and the controller that feeds them (parameters shared
across agents)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algorithms.components.layers import GRUCell, Linear
from algorithms.components.replay import EpisodeBatch


class RNNAgent(nn.Module):
    """PyMARL's recurrent agent: linear → ReLU → GRU cell → linear to one utility per action."""

    def __init__(self, input_dim: int, hidden_dim: int, n_actions: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fc1 = Linear(input_dim, hidden_dim)
        self.rnn = GRUCell(hidden_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, n_actions)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.fc1(inputs))          # [N, H]
        h = self.rnn(x, hidden)               # [N, H]
        return self.fc2(h), h                 # [N, n_actions], [N, H]


class MLPAgent(nn.Module):
    """A feed-forward agent with the recurrent agent's interface: two ReLU layers to one output per
    action; the hidden state passes through unchanged (it stays zeros)."""

    def __init__(self, input_dim: int, hidden_dim: int, n_actions: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.net = nn.Sequential(Linear(input_dim, hidden_dim), nn.ReLU(), Linear(hidden_dim, hidden_dim),
                                 nn.ReLU(), Linear(hidden_dim, n_actions))

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(inputs), hidden       # [N, n_actions], [N, H]


class AgentController(nn.Module):
    """Builds each agent's input (observation, last action, agent id) and runs the shared RNN agent."""

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, hidden_dim: int,
                 last_action: bool = True, agent_id: bool = True, recurrent: bool = True) -> None:
        super().__init__()
        self.n_agents, self.n_actions = n_agents, n_actions
        self.last_action, self.agent_id = last_action, agent_id
        input_dim = obs_dim + (n_actions if last_action else 0) + (n_agents if agent_id else 0)
        self.agent = (RNNAgent if recurrent else MLPAgent)(input_dim, hidden_dim, n_actions)

    def init_hidden(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(batch_size, self.n_agents, self.agent.hidden_dim, device=device)  # [B, A, H]

    def _inputs(self, obs: torch.Tensor, last_actions: torch.Tensor | None) -> torch.Tensor:
        B, A, _ = obs.shape
        parts = [obs]
        if self.last_action:
            if last_actions is None:
                parts.append(torch.zeros(B, A, self.n_actions, device=obs.device))
            else:
                parts.append(F.one_hot(last_actions, self.n_actions).float())   # [B, A, n_actions]
        if self.agent_id:
            parts.append(torch.eye(A, device=obs.device).expand(B, A, A))       # [B, A, A]
        return torch.cat(parts, dim=-1)                                          # [B, A, input_dim]

    def forward(self, obs: torch.Tensor, last_actions: torch.Tensor | None,
                hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Utilities ``[B, A, n_actions]`` for one step and the next hidden state ``[B, A, H]``."""
        B, A, _ = obs.shape
        q, h = self.agent(self._inputs(obs, last_actions).reshape(B * A, -1), hidden.reshape(B * A, -1))
        return q.view(B, A, -1), h.view(B, A, -1)

    def unroll(self, batch: EpisodeBatch, with_hidden: bool = False):
        """Utilities for every step of a batch of episodes: ``[B, T+1, A, n_actions]``; with
        ``with_hidden`` also each step's hidden state after the agent's update ``[B, T+1, A, H]``
        (QTRAN's joint Q reads them)."""
        hidden = self.init_hidden(batch.batch_size, batch.obs.device)
        outs, hiddens = [], []
        for t in range(batch.max_t + 1):
            last = batch.actions[:, t - 1] if t > 0 else None
            q, hidden = self(batch.obs[:, t], last, hidden)
            outs.append(q)
            hiddens.append(hidden)
        q = torch.stack(outs, dim=1)
        return (q, torch.stack(hiddens, dim=1)) if with_hidden else q

    def unroll_steps(self, obs: torch.Tensor, starts: torch.Tensor, hidden: torch.Tensor,
                     last_actions: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs over a fixed-horizon rollout whose episodes start anywhere in it: ``obs [B, T, A, d]``,
        ``starts [B, T]`` (hidden state reset before step t), ``hidden [B, A, H]`` before step 0 →
        ``[B, T, A, n_actions]``. ``last_actions [B, T, A]`` is the previous action at each step."""
        outs = []
        for t in range(obs.shape[1]):
            hidden = hidden * (~starts[:, t]).float()[:, None, None]
            last = None if last_actions is None else last_actions[:, t]
            q, hidden = self(obs[:, t], last, hidden)
            outs.append(q)
        return torch.stack(outs, dim=1)
