"""Network calls as requests: an algorithm's acting and learning are *programs* (Python generators)
that yield a :class:`Call` wherever they evaluate a network (and the runner's collection a
:class:`StepEnv` wherever it steps an environment), and a driver answers each request.

A program runs alone (:func:`drive`) or together with the same program of other runs
(:func:`drive_together`, a run group): calls that agree in module structure and input layout are
evaluated at once, with the runs' parameters stacked on a leading run dimension and the module's
forward mapped over it (``torch.func.vmap`` over ``functional_call``). Everything else a program
does (sampling with its run's generator, optimiser steps, target updates, schedules) stays per run,
so runs of a group never interact. Both drivers evaluate through the same stacked path, a single run
being a group of one, so a run's numbers do not depend on the group it trains in (on CPU; see
docs/run_groups.md for what this rests on).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, Iterable

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

Program = Generator["Call | StepEnv", Any, Any]


@dataclass
class Call:
    """Evaluate ``module(*args)``. ``grad``: the first output is a scalar loss to backpropagate into the
    module's parameters (their ``.grad`` accumulates); outputs come back detached. ``pad``: tensor
    inputs may be zero-padded at the end of any dimension to the group's largest (the module masks
    what padding adds: unfilled steps), so runs whose batches differ in length share one call."""

    module: nn.Module
    args: tuple
    grad: bool = False
    pad: bool = False

    def key(self) -> tuple:
        """Calls with equal keys are evaluated together, through the first call's module with each
        call's own parameters: what a module holds besides tensors (a discount, a flag) is not in the
        key, so only modules configured alike may meet (a run group: specs equal but for the seed)."""
        leaves, spec = tree_flatten(self.args)
        layout = tuple((x.dtype, x.dim() if self.pad else tuple(x.shape), x.device) if torch.is_tensor(x)
                       else ("const", x) for x in leaves)
        params = tuple((n, tuple(p.shape)) for n, p in self.module.named_parameters())
        return (type(self.module), self.grad, self.pad, str(spec), layout, params)


@dataclass
class StepEnv:
    """Advance ``env`` one step with ``actions`` and return its ``EnvStep``. Environments whose
    ``together_key()`` agree (the same simulator, options and batch shape, each with its own random
    stream) step as one batch through ``type(env).step_together``; any other steps alone."""

    env: Any
    actions: torch.Tensor

    def key(self) -> tuple:
        together = getattr(self.env, "together_key", None)
        shared = together() if together is not None else None
        return ("step", shared if shared is not None else id(self.env))



def drive(program: Program) -> Any:
    """Run one program alone and return its result."""
    return drive_together([program])[0]


def drive_together(programs: Iterable[Program]) -> list[Any]:
    """Run programs in lockstep, evaluating their pending requests group by group; returns their
    results in order. An exception a program raises is re-raised (a run group's programs record their
    own failures and return instead). A request that fails is raised into each program that made it."""
    programs = list(programs)
    results: list[Any] = [None] * len(programs)
    pending: dict[int, Call | StepEnv] = {}

    def advance(i: int, value: Any = None, error: BaseException | None = None) -> None:
        try:
            call = programs[i].throw(error) if error is not None else programs[i].send(value)
            if not isinstance(call, (Call, StepEnv)):
                raise TypeError(f"a program yielded {type(call).__name__}, not a Call or StepEnv")
            pending[i] = call
        except StopIteration as stop:
            results[i] = stop.value

    for i in range(len(programs)):
        advance(i)
    while pending:
        # the largest set of matching calls goes first and the rest wait: a run that got ahead (its
        # episodes ended sooner, its evaluation fell due a round earlier) waits for the others to
        # reach the same call, so the runs stay in step and calls stay batched. Every program ends,
        # so a waiting one always gets its turn; the order of turns changes no run's numbers.
        groups: dict[tuple, list[int]] = {}
        for i, call in pending.items():
            groups.setdefault(call.key(), []).append(i)
        members = max(groups.values(), key=len)
        calls = [pending.pop(i) for i in members]
        try:
            outs = evaluate(calls) if isinstance(calls[0], Call) else step_envs(calls)
        except Exception as err:  # noqa: BLE001 - the call failed for every member: each is told
            for i in members:
                advance(i, error=err)
            continue
        for i, out in zip(members, outs):
            advance(i, out)
    return results


def evaluate(calls: list[Call]) -> list[Any]:
    """The outputs of calls of one key, each run's parameters stacked on dim 0 and the forward vmapped."""
    module = calls[0].module
    with torch.set_grad_enabled(calls[0].grad):
        params = _stack([dict(c.module.named_parameters()) for c in calls], calls[0].grad)
        buffers = _stack([dict(c.module.named_buffers()) for c in calls], False)
        args = _stack_args([c.args for c in calls], calls[0].pad)
        in_dims = tree_map(lambda x: 0 if torch.is_tensor(x) else None, args)

        def one(p: dict, b: dict, a: tuple) -> Any:
            return functional_call(module, (p, b), a, strict=True)

        out = vmap(one, in_dims=(0, 0, in_dims))(params, buffers, args)
        if calls[0].grad:
            loss = out[0] if isinstance(out, tuple) else out                       # [R]
            loss.sum().backward()   # d(sum)/d(run r's parameters) is run r's own gradient
            out = tree_map(lambda x: x.detach() if torch.is_tensor(x) else x, out)
    return [tree_map(lambda x, r=r: x[r] if torch.is_tensor(x) else x, out) for r in range(len(calls))]


def step_envs(requests: list[StepEnv]) -> list[Any]:
    """The next ``EnvStep`` of each request's environment: one batched step where they can share one."""
    env = requests[0].env
    if len(requests) > 1 and hasattr(type(env), "step_together"):
        return type(env).step_together([r.env for r in requests], [r.actions for r in requests])
    return [r.env.step(r.actions) for r in requests]


def _stack(dicts: list[dict[str, torch.Tensor]], grad: bool) -> dict[str, torch.Tensor]:
    return {name: torch.stack([d[name] if grad else d[name].detach() for d in dicts]) for name in dicts[0]}


def _stack_args(args: list[tuple], pad: bool) -> tuple:
    flats = [tree_flatten(a) for a in args]
    spec = flats[0][1]
    stacked = []
    for leaves in zip(*(f[0] for f in flats)):
        if not torch.is_tensor(leaves[0]):
            stacked.append(leaves[0])
            continue
        if pad:
            shape = [max(x.shape[d] for x in leaves) for d in range(leaves[0].dim())]
            leaves = [_pad_to(x, shape) for x in leaves]
        stacked.append(torch.stack(leaves))
    return tree_unflatten(stacked, spec)


def _pad_to(x: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """``x`` zero-padded (False for bool) at the end of each dimension up to ``shape``."""
    if list(x.shape) == shape:
        return x
    out = x.new_zeros(shape)
    out[tuple(slice(0, n) for n in x.shape)] = x
    return out


def immediate(value: Any) -> Program:
    """A program that makes no call and returns ``value`` (for policies without networks)."""
    return value
    yield  # noqa: unreachable - makes this function a generator
