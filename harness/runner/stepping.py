"""Fixed-horizon collection on autoresetting environments (on-policy rollouts, per-step transitions).

The environments restart a finished episode on the step after its end ("next-step autoreset"): the
step that ends an episode returns its real final observation (so a time-out can be bootstrapped
from it), and the following step ignores the actions and returns the first observation of the next
episode. That following step is no transition of the task: it is stored with ``valid`` False and
never counted as an env step. The stepper keeps the environment, the acting policy's hidden state
and the running episodes' sums between rounds, and saves them in checkpoints, so a run resumed
after a kill continues the very same episodes.
"""
from __future__ import annotations

from typing import Any

import torch

from algorithms.base import Algorithm
from algorithms.calls import Program, StepEnv, drive
from algorithms.components.rollouts import StepBatch
from harness.envs.base import BatchedEnv
from harness.runner.rollout import ENTITY_VIEW, EpisodeStats


_OBS_FIELDS = ("obs", "state", "avail_actions", "agent_mask")


class Stepper:
    """Steps one autoresetting environment for an algorithm, ``horizon`` steps per call."""

    def __init__(self, env: BatchedEnv, algorithm: Algorithm, seed: int) -> None:
        if not getattr(env, "autoreset", False):
            raise ValueError("a Stepper needs an environment built with autoreset=True")
        self.env, self.algorithm = env, algorithm
        self.step = env.reset(seed=seed)
        B = env.batch_size
        self.hidden = algorithm.init_hidden(B)
        self.starts = torch.ones(B, dtype=torch.bool, device=env.device)       # [B]
        self.restarting = torch.zeros(B, dtype=torch.bool, device=env.device)  # [B] next step is a restart
        self.returns = torch.zeros(B, device=env.device)                       # running episode sums
        self.lengths = torch.zeros(B, dtype=torch.long, device=env.device)
        self.compositions = env.compositions()

    def collect(self, horizon: int, *, t_env: int, explore: bool,
                generator: torch.Generator) -> tuple[StepBatch, EpisodeStats]:
        """The next ``horizon`` steps, and the outcomes of the episodes that ended in them."""
        return drive(self.collect_program(horizon, t_env=t_env, explore=explore, generator=generator))

    def collect_program(self, horizon: int, *, t_env: int, explore: bool, generator: torch.Generator) -> Program:
        """:meth:`collect` as a program (its policy evaluations are calls a run group batches)."""
        env, alg = self.env, self.algorithm
        views = _OBS_FIELDS + (ENTITY_VIEW if self.step.entities is not None else ())
        obs_like: dict[str, list[torch.Tensor]] = {k: [] for k in views}
        starts, acts, rews, terms, truncs, valids = [], [], [], [], [], []
        extras: dict[str, list[torch.Tensor]] = {}
        hidden0 = None
        won, returns, lengths, comps = [], [], [], []
        for _ in range(horizon):
            for k in views:
                obs_like[k].append(getattr(self.step, k))
            starts.append(self.starts.clone())
            self.hidden = alg.reset_hidden(self.hidden, self.starts)
            if not starts[1:]:
                hidden0 = self.hidden
            out = yield from alg.act_program(self.step, self.hidden, t_env, explore, generator)
            actions, self.hidden = out[0], out[1]
            for k, v in (out[2] if len(out) > 2 else {}).items():
                extras.setdefault(k, []).append(v)
            valid = ~self.restarting
            nxt = yield StepEnv(env, actions.to(env.device))
            reward = torch.where(valid, nxt.reward, torch.zeros_like(nxt.reward))
            ended = valid & nxt.done
            acts.append(actions.to(env.device)); rews.append(reward); valids.append(valid)
            terms.append(nxt.terminated & ended); truncs.append(nxt.truncated & ~nxt.terminated & ended)
            self.returns += reward
            self.lengths += valid.long()
            if bool(ended.any()):
                for b in ended.nonzero().flatten().tolist():
                    won.append(bool(nxt.battle_won[b])); returns.append(float(self.returns[b]))
                    lengths.append(int(self.lengths[b])); comps.append(self.compositions[b])
                self.returns = torch.where(ended, torch.zeros_like(self.returns), self.returns)
                self.lengths = torch.where(ended, torch.zeros_like(self.lengths), self.lengths)
            if bool(self.restarting.any()):   # the restart step began new episodes: new labels
                fresh = env.compositions()
                self.compositions = [fresh[b] if r else c
                                     for b, (c, r) in enumerate(zip(self.compositions, self.restarting.tolist()))]
            self.starts = self.restarting.clone()   # a restart step's output is a first observation
            self.restarting = ended
            self.step = nxt
        for k in views:
            obs_like[k].append(getattr(self.step, k))
        starts.append(self.starts.clone())
        batch = StepBatch(
            **{k: torch.stack(v, 1) for k, v in obs_like.items()}, starts=torch.stack(starts, 1),
            actions=torch.stack(acts, 1), reward=torch.stack(rews, 1), terminated=torch.stack(terms, 1),
            truncated=torch.stack(truncs, 1), valid=torch.stack(valids, 1),
            extras={k: torch.stack(v, 1) for k, v in extras.items()}, hidden=hidden0)
        stats = EpisodeStats(won=won, returns=returns, lengths=lengths, compositions=comps,
                             steps=int(batch.valid.sum()))
        return batch, stats

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"env": self.env.get_state(), "step": self.step, "hidden": self.hidden,
                "starts": self.starts, "restarting": self.restarting, "returns": self.returns,
                "lengths": self.lengths, "compositions": self.compositions}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env.set_state(state["env"])
        for f in ("step", "hidden", "starts", "restarting", "returns", "lengths", "compositions"):
            setattr(self, f, state[f])
