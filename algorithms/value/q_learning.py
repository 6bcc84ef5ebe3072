"""Value-based MARL on recurrent agents with episode replay: the shared body of IQL, VDN, QMIX, QPLEX,
QTRAN and weighted QMIX (they differ in the mixer, extra networks and the objective).

Defaults are PyMARL's SMAC hyper-parameters (as in OPT's protocol): batch 32 episodes, buffer 5000
episodes, RMSprop lr 5e-4 (alpha 0.99, eps 1e-5), gamma 0.99, target update every 200 episodes,
epsilon 1.0 → 0.05 over 50k steps, gradient clip 10, double Q, and one learner update per finished
episode (PyMARL's episode runner; ``update_every`` episodes in general).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from algorithms.base import Algorithm, AlgorithmConfig, Cadence, Capabilities, Protocol
from algorithms.calls import Call, Program
from algorithms.components.agents import AgentController
from algorithms.components.exploration import LinearSchedule, epsilon_greedy
from algorithms.components.learners import TDLearner, TDLoss, TDSettings
from algorithms.components.replay import EpisodeBatch, EpisodeReplay, index_dtype
from harness.envs.base import EnvInfo, EnvStep


@dataclass(frozen=True)
class QLearningConfig(AlgorithmConfig):
    batch_size: int = 32                  # episodes per update
    buffer_size: int = 5000               # episodes
    lr: float = 5e-4
    optimizer: str = "rmsprop"            # "rmsprop" or "adam"
    optim_alpha: float = 0.99
    optim_eps: float = 1e-5
    gamma: float = 0.99
    grad_norm_clip: float = 10.0
    double_q: bool = True
    target_update_interval: int = 200     # episodes
    update_every: int = 1                 # finished episodes per learner update (PyMARL: 1)
    epsilon_start: float = 1.0
    epsilon_finish: float = 0.05
    epsilon_anneal_time: int = 50_000     # env steps
    rnn_hidden_dim: int = 64
    obs_last_action: bool = True
    obs_agent_id: bool = True
    buffer_device: str = "cpu"            # where replay lives ("cpu" or "same" as the model)

    def __post_init__(self) -> None:
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")
        if not 0.0 <= self.epsilon_finish <= 1.0 or not 0.0 <= self.epsilon_start <= 1.0:
            raise ValueError("epsilon_start and epsilon_finish must lie in [0, 1]")
        for key in ("batch_size", "buffer_size", "target_update_interval", "rnn_hidden_dim", "update_every"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")


class ValueBased(Algorithm):
    """Recurrent agents, epsilon-greedy acting, episode replay and a TD learner with an optional mixer."""

    config_cls: ClassVar[type[AlgorithmConfig]] = QLearningConfig
    capabilities: ClassVar[Capabilities] = Capabilities(discrete_actions=True, needs_state=True)
    own_optimiser: ClassVar[frozenset[str]] = frozenset()  # extra networks the TD optimiser leaves alone

    def build_controller(self, info: EnvInfo, config: Any) -> nn.Module:
        """The agents: PyMARL's recurrent agents on observations (entity algorithms: on the entity view)."""
        return AgentController(info.n_agents, info.obs_dim, info.n_actions, config.rnn_hidden_dim,
                               config.obs_last_action, config.obs_agent_id)

    def agent_inputs(self, step: EnvStep) -> tuple[torch.Tensor, ...]:
        """What the controller reads of a step, before the previous actions and hidden state."""
        return (step.obs,)

    def loss_args(self, batch: EpisodeBatch, generator: torch.Generator) -> tuple:
        """Further inputs of the loss call drawn from the run's generator (REFIL's sub-groups)."""
        return ()

    def build_mixer(self, info: EnvInfo, config: Any) -> nn.Module | None:
        """The mixing network of this algorithm (None: independent learners)."""
        return None

    def build_extra(self, info: EnvInfo, config: Any) -> dict[str, nn.Module]:
        """Further trained networks (a central critic, a joint Q): same optimiser, their own targets."""
        return {}

    def build_loss(self, config: Any) -> Callable[[TDLearner], TDLoss]:
        """The objective's module, built on the learner (the TD loss on Q_tot by default)."""
        return TDLoss

    def __init__(self, info: EnvInfo, config: QLearningConfig, device: torch.device,
                 protocol: Protocol = Protocol()) -> None:
        super().__init__(info, config, device, protocol)
        self.controller = self.build_controller(info, config).to(device)
        mixer = self.build_mixer(info, config)
        self.mixer = mixer.to(device) if mixer is not None else None
        self.learner = TDLearner(self.controller, self.mixer, TDSettings(
            gamma=config.gamma, lr=config.lr, optimizer=config.optimizer, optim_alpha=config.optim_alpha,
            optim_eps=config.optim_eps, grad_norm_clip=config.grad_norm_clip, double_q=config.double_q,
            target_update_interval=config.target_update_interval, time_limit=protocol.time_limit,
            mixer_steps=info.episode_limit),
            extra={name: net.to(device) for name, net in self.build_extra(info, config).items()},
            loss=self.build_loss(config), own_optimiser=self.own_optimiser)
        buffer_device = device if config.buffer_device == "same" else torch.device(config.buffer_device)
        self.replay = EpisodeReplay(config.buffer_size, info.episode_limit, buffer_device,
                                    stored_dtypes={"actions": index_dtype(info.n_actions)})
        self.epsilon = LinearSchedule(config.epsilon_start, config.epsilon_finish, config.epsilon_anneal_time)

    @property
    def cadence(self) -> Cadence:
        return Cadence("episode", self.config.update_every)

    def storages(self) -> dict[str, EpisodeReplay]:
        return {"replay": self.replay}

    def init_hidden(self, batch_size: int) -> Any:
        return {"h": self.controller.init_hidden(batch_size, self.device), "last": None}

    def act_program(self, step: EnvStep, hidden: Any, t_env: int, explore: bool,
                    generator: torch.Generator) -> Program:
        inputs = tuple(x.to(self.device) for x in self.agent_inputs(step))
        q, h = yield Call(self.controller, (*inputs, hidden["last"], hidden["h"]))                # [B, A, n]
        eps = self.epsilon(t_env) if explore else 0.0
        actions = epsilon_greedy(q, step.avail_actions.to(self.device), eps, generator)  # [B, A]
        return actions, {"h": h, "last": actions}

    def observe(self, episodes: EpisodeBatch) -> None:
        self.replay.insert(episodes)

    def train_program(self, t_env: int, episodes_seen: int, generator: torch.Generator) -> Program:
        if not self.replay.can_sample(self.config.batch_size):
            return None
        batch = self.replay.sample(self.config.batch_size, generator).to(self.device)
        logs = yield from self.learner.update(batch, episodes_seen, self.loss_args(batch, generator))
        logs["epsilon"] = self.epsilon(t_env)
        return logs

    def state_dict(self) -> dict[str, Any]:
        return {"learner": self.learner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.learner.load_state_dict(state["learner"])
