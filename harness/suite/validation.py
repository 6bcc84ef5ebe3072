"""Pydantic validation errors turned into (key path, message) problems a user can act on.

Pydantic reports positions as ``loc`` tuples that mix data keys with union-branch tags
(``('seeds', 'list[int]', 2)``); here they are mapped back onto the YAML data, union branches that
merely had the wrong type are dropped, and messages name the value and what is allowed.
"""
from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.suite.errors import FieldError, Path, Problem, allowed_hint


# what an input "should be" for pydantic's type errors, as a phrase
_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "bool_type": "true or false", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "none_required": "null",
}


def problems_from(err: ValidationError, data: Any, model: type[BaseModel]) -> list[Problem]:
    """Every error of ``err`` (raised validating ``data`` as ``model``) as a located problem."""
    errors = err.errors()
    located = [_locate(e, data) for e in errors]
    out: list[Problem] = []
    missing: list[Problem] = []
    mismatches: dict[Path, list[str]] = {}
    for (path, unions, is_mismatch), e in zip(located, errors):
        if unions and path == unions[-1] and is_mismatch:
            # a union branch that only had the wrong type: drop it if another branch says more
            if not any(path in u and (p != path or not m) for p, u, m in located):
                mismatches.setdefault(path, []).append(_expected(e))
        elif e["type"] == "missing":
            missing.append((path, f"missing required key {path[-1]!r}"))
        else:
            out.append((path, _message(e, path, data, model)))
    for path, expected in mismatches.items():
        unique = list(dict.fromkeys(expected))
        out.append((path, f"expected {' or '.join(unique)}, got {_show(_value_at(data, path))}"))
    # a misspelt key also leaves its field missing; the misspelling is the useful report
    return out or missing


def _locate(e: dict, data: Any) -> tuple[Path, tuple[Path, ...], bool]:
    """Data path of error ``e``, the paths where it entered union branches (outermost first), and
    whether it is a plain type mismatch."""
    path: list[str | int] = []
    unions: list[Path] = []
    cur = data
    loc = e["loc"]
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and isinstance(part, str) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
        elif part == "[key]":
            continue
        elif e["type"] == "missing" and i == len(loc) - 1:
            path.append(part)
        else:   # a union branch tag such as 'int' or 'list[int]'
            unions.append(tuple(path))
    ctx_err = (e.get("ctx") or {}).get("error")
    if isinstance(ctx_err, FieldError):
        path.extend(ctx_err.loc)
    is_mismatch = e["type"] in _EXPECTED or e["type"] == "literal_error"
    return tuple(path), tuple(unions), is_mismatch


def _expected(e: dict) -> str:
    if e["type"] == "literal_error":
        return f"one of {e['ctx']['expected']}"
    return _EXPECTED[e["type"]]


def _message(e: dict, path: Path, data: Any, model: type[BaseModel]) -> str:
    kind = e["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, path[:-1])
        return f"unknown key {path[-1]!r}; " + allowed_hint(path[-1], allowed)
    if kind == "value_error":
        return str(e["ctx"]["error"])
    if kind == "literal_error":
        got = _value_at(data, path)
        return f"expected one of {e['ctx']['expected']}, got {_show(got)}" + _close(got, e["ctx"]["expected"])
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(_value_at(data, path))}"
    if kind == "string_pattern_mismatch":
        return f"expected a string matching {e['ctx']['pattern']!r}, got {_show(_value_at(data, path))}"
    if kind == "too_short":
        return f"must not be empty (at least {e['ctx']['min_length']} item(s)), got {_show(_value_at(data, path))}"
    return f"{e['msg']}, got {_show(_value_at(data, path))}"


def _close(got: Any, expected: str) -> str:
    names = [w.strip("'") for w in expected.replace(" or ", ", ").split(", ")]
    hint = allowed_hint(got, names)
    return hint[hint.index(" (did"):] if "(did you mean" in hint else ""


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model: type[BaseModel], path: Path) -> list[str]:
    """Field names of the model found by following ``path`` from ``model``'s annotations."""
    tp: Any = model
    for part in path:
        tp = descend(tp, part)
        if tp is None:
            return []
    found = model_in(tp)
    return list(found.model_fields) if found is not None else []


def descend(tp: Any, part: str | int) -> Any:
    """The annotation found one key (str) or index (int) below annotation ``tp``; None where ``tp``
    has no such key (unions: the first branch that has it)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            sub = descend(arg, part)
            if sub is not None:
                return sub
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    if origin is list and isinstance(part, int):
        return typing.get_args(tp)[0]
    if origin is dict and isinstance(part, str):
        return typing.get_args(tp)[1]
    return None


def model_in(tp: Any) -> type[BaseModel] | None:
    """The pydantic model ``tp`` is, or the first one among its union branches; None if none."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ():
        found = model_in(arg)
        if found is not None:
            return found
    return None
