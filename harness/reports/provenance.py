"""Provenance block printed in every report output: what produced these numbers, where and when.

The caller's dict is free-form (suite hash, git commit and dirty flag, versions, device, dates,
seeds, ...); nested dicts flatten to dotted keys and everything is rendered, sorted by key.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Provenance:
    """Sorted (key, value) lines plus the time the report was generated."""

    items: tuple[tuple[str, str], ...]
    generated_at: str

    @classmethod
    def from_dict(cls, provenance: Mapping[str, Any], now: dt.datetime | None = None) -> "Provenance":
        now = now or dt.datetime.now(dt.timezone.utc)
        flat = dict(_flatten(provenance))
        generated = now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        flat["report_generated_at"] = generated
        return cls(items=tuple(sorted(flat.items())), generated_at=generated)

    def lines(self) -> list[str]:
        """`key: value` lines, one per item."""
        return [f"{k}: {v}" for k, v in self.items]


def _flatten(data: Mapping[str, Any], prefix: str = ""):
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, prefix=f"{name}.")
        else:
            yield name, _text(value)


def _text(value: Any) -> str:
    """One-line text of a value; lists and sets as compact JSON-ish lists."""
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return json.dumps(seq, default=str)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return " ".join(str(value).split())
