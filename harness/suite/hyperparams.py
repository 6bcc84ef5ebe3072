"""Type checks and normalisation of algorithm hyper-parameter overrides against a config dataclass.

Configs are frozen dataclasses that do not check types themselves; a suite's ``lr: fast`` must fail
at validation, and ``lr: 1`` must resolve (and hash) exactly like ``lr: 1.0``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def field_types(config_cls: type) -> dict[str, Any]:
    """Field name → resolved type annotation of a config dataclass."""
    try:
        hints = typing.get_type_hints(config_cls)
    except (NameError, TypeError):   # annotations naming types only imported for type checking
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(config_cls)}


def type_problem(tp: Any, value: Any) -> str | None:
    """None if ``value`` fits ``tp``; otherwise what was expected (types this cannot judge pass)."""
    return None if _accepts(tp, value) else _describe(tp)


def normalise(config_cls: type, overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with integers given for float fields turned into floats."""
    kinds = field_types(config_cls)
    return {k: float(v) if kinds.get(k) is float and type(v) is int else v for k, v in overrides.items()}


def _accepts(tp: Any, value: Any) -> bool:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.TypeVar):
        return True
    if tp is None or tp is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args and (origin is not tuple or args[-1] is Ellipsis or len(args) == 1) else None
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_accepts(a, v) for a, v in zip(args, value))
        return item is None or all(_accepts(item, v) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return True


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             type(None): "null", None: "null"}
    if tp in names:
        return names[tp]
    if origin in (list, tuple) or tp in (list, tuple):
        return "a list"
    if origin is dict or tp is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))
