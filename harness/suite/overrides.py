"""Command-line overrides of a suite (``--set KEY=VALUE``), applied to its data before validation.

KEY is a dotted path into the suite's mapping (``budget.env_steps``); below a list, a part is an
index (``scenarios.0.budget``) or an entry's name or label (``algorithms.qmix.overrides.lr``).
VALUE is read as safe YAML, so ``2``, ``0.5``, ``true`` and ``[qmix, vdn]`` have their types. A
list given for ``algorithms`` or ``scenarios`` selects entries: a name listed there stands for the
suite's own entry of that name (label first, so its overrides, budget and compositions stay), and
any other name or a mapping is taken as a new entry. The result is validated exactly like a file;
a problem at an overridden key names the override, not a line of the file.
"""
from __future__ import annotations

import copy
import hashlib
import json
import typing
from dataclasses import dataclass
from typing import Any, Sequence

from harness.suite.errors import Path, SuiteError, allowed_hint, format_key
from harness.suite.models import Suite
from harness.suite.source import SourceMap, read_yaml
from harness.suite.validation import descend, model_in

ENTRY_LISTS = ("algorithms", "scenarios")   # top-level lists whose items are named entries
# keys that change how runs are executed, never what they compute: overriding them keeps the
# suite's name, so its runs are the file's (a suite resumed with more CPUs or another Slurm partition)
EXECUTION_KEYS = ("resources",)
NAME_SUFFIX = "-set-"                       # an overridden suite is named <name>-set-<8 hex digits>
_EXAMPLE = "e.g. --set seeds=2 or --set budget.env_steps=20000"


class OverrideError(SuiteError):
    """A problem with one override; ``str()`` is one line: ``--set TEXT: KEY: message``."""

    def __init__(self, override: str, key: str, message: str) -> None:
        self.override = override
        self.file, self.line, self.key = f"--set {override}", 0, key
        self.message = " ".join(message.split())
        Exception.__init__(self, f"{self.file}: {key}: {self.message}" if key else f"{self.file}: {self.message}")


@dataclass(frozen=True)
class Override:
    """One parsed ``KEY=VALUE``: the text as given, the key's dotted parts and the YAML value."""

    text: str
    key: tuple[str, ...]
    value: Any


@dataclass(frozen=True)
class OverriddenSource(SourceMap):
    """The suite file's lines plus where its data was overridden. A problem at, below or just above
    an overridden key is the override's (line 0: it is reported before any line of the file);
    any other problem keeps its file line and says which overrides were applied."""

    applied: tuple[tuple[Path, str], ...] = ()   # (data path, override text), in the order applied

    @property
    def overrides(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.applied)

    def override_at(self, path: Path) -> str | None:
        """The latest override whose key is ``path``, above it, or below it; None if none."""
        path = tuple(path)
        for at, text in reversed(self.applied):
            if path[:len(at)] == at or (path and at[:len(path)] == path):
                return text
        return None

    def line_of(self, path: Path) -> int:
        return 0 if self.override_at(path) is not None else super().line_of(path)

    def error(self, path: Path, message: str) -> SuiteError:
        text = self.override_at(path)
        if text is not None:
            return OverrideError(text, format_key(tuple(path)), message)
        applied = " ".join(f"--set {t}" for t in self.overrides)
        return SuiteError(self.file, super().line_of(path), format_key(tuple(path)), f"{message} (with {applied})")


def parse_override(text: str) -> Override:
    """``KEY=VALUE`` as an :class:`Override`; raise :class:`OverrideError` if it is malformed."""
    key, eq, raw = text.partition("=")
    key = key.strip()
    if not eq:
        raise OverrideError(text, "", f"expected KEY=VALUE, {_EXAMPLE}")
    if not key:
        raise OverrideError(text, "", f"the key before '=' is empty; expected KEY=VALUE, {_EXAMPLE}")
    parts = tuple(p.strip() for p in key.split("."))
    if not all(parts):
        raise OverrideError(text, key, "a key is dot-separated names with none empty, e.g. budget.env_steps")
    try:
        value, _ = read_yaml(raw, "<value>")
    except SuiteError as err:
        raise OverrideError(text, key, f"cannot read the value {raw!r}: {err.message}") from None
    return Override(text, parts, value)


def apply_overrides(data: dict, source: SourceMap, texts: Sequence[str]) -> tuple[dict, OverriddenSource]:
    """A copy of the suite ``data`` with the overrides ``texts`` applied in order (a later one wins),
    renamed ``<name>-set-<hash of the overrides>`` unless one sets ``name`` or all of them are
    execution keys (EXECUTION_KEYS), and its source map."""
    overrides = [parse_override(t) for t in texts]
    out = copy.deepcopy(data)
    applied = tuple((_apply(out, o), o.text) for o in overrides)
    renaming = [o for o in overrides if o.key[0] not in EXECUTION_KEYS]
    if renaming and not any(o.key == ("name",) for o in overrides) and isinstance(out.get("name"), str):
        out["name"] = out["name"] + NAME_SUFFIX + _digest(renaming)
    return out, OverriddenSource(source.file, source.lines, applied)


def overrides_of(suite: Suite) -> tuple[str, ...]:
    """The override texts a loaded suite was built with (empty for a plain suite file)."""
    return suite.source.overrides if isinstance(suite.source, OverriddenSource) else ()


def _digest(overrides: Sequence[Override]) -> str:
    """8 hex digits naming the overrides: the same ``--set`` options always give the same name."""
    canonical = json.dumps([[list(o.key), o.value] for o in overrides], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _apply(data: dict, o: Override) -> Path:
    """Set ``o`` in ``data`` in place; the data path it set (list indices resolved)."""
    cur: Any = data
    tp: Any = Suite
    at: list[str | int] = []
    for depth, part in enumerate(o.key):
        last = depth == len(o.key) - 1
        if isinstance(cur, list):
            step: str | int = _index(cur, part, o, tuple(at))
            if last:
                cur[step] = copy.deepcopy(o.value)
                return (*at, step)
            tp = object if _free(tp) else descend(tp, step)
            if isinstance(cur[step], str) and "name" in getattr(model_in(tp), "model_fields", {}):
                cur[step] = {"name": cur[step]}   # a named entry gets keys: qmix -> {name: qmix}
        elif isinstance(cur, dict):
            step = part
            model = model_in(tp)
            if model is not None and step not in model.model_fields:
                where = format_key((*at, step))
                raise OverrideError(o.text, where, f"unknown key {step!r}; " + allowed_hint(step, model.model_fields))
            tp = object if _free(tp) else descend(tp, step)
            if last:
                cur[step] = (_select(cur.get(step), o.value) if not at and step in ENTRY_LISTS
                             and isinstance(o.value, list) else copy.deepcopy(o.value))
                return (*at, step)
            if cur.get(step) is None:
                if not (_free(tp) or model_in(tp) is not None or typing.get_origin(tp) is dict):
                    raise OverrideError(o.text, format_key((*at, step)), f"{format_key((*at, step))} is not "
                                        "in the suite, so nothing can be set below it; set it whole instead")
                cur[step] = {}
        else:
            where = format_key(tuple(at))
            raise OverrideError(o.text, format_key((*at, part)), f"{where} is {cur!r}, not a mapping or a list, "
                                f"so it has no key {part!r}; set {where} itself")
        at.append(step)
        cur = cur[step]
    raise AssertionError("unreachable: a key has at least one part")


def _free(tp: Any) -> bool:
    """Whether any key may appear below annotation ``tp`` (a free-form value such as ``overrides``)."""
    return tp is object or tp is Any


def _index(items: list, part: str, o: Override, at: Path) -> int:
    """Index of the item ``part`` names in ``items``: a number, or an entry's label or name."""
    if part.isdigit():
        if int(part) < len(items):
            return int(part)
    else:
        for name_of in (_row_name, _entry_name):
            for i, item in enumerate(items):
                if name_of(item) == part:
                    return i
    names = [n for n in dict.fromkeys(_row_name(item) for item in items) if n is not None]
    allowed = f"an index 0..{len(items) - 1}" if items else "nothing (the list is empty)"
    if names:
        allowed += " or a name: " + ", ".join(names)
    raise OverrideError(o.text, format_key((*at, part)), f"{format_key(at)} has no item {part!r}; allowed: {allowed}")


def _select(current: Any, wanted: list) -> list:
    """Entries for ``algorithms``/``scenarios`` = ``wanted``: a name stands for the suite's own
    entry with that row name (label, else name), failing that every entry of that name; any other
    item is a new entry as given."""
    entries = current if isinstance(current, list) else []
    out: list = []
    for item in wanted:
        if not isinstance(item, str):
            out.append(copy.deepcopy(item))
            continue
        matches = ([e for e in entries if _row_name(e) == item]
                   or [e for e in entries if _entry_name(e) == item])
        out.extend(copy.deepcopy(matches) if matches else [item])
    return out


def _row_name(item: Any) -> str | None:
    if isinstance(item, dict):
        label = item.get("label")
        return label if isinstance(label, str) else _entry_name(item)
    return item if isinstance(item, str) else None


def _entry_name(item: Any) -> str | None:
    if isinstance(item, dict):
        name = item.get("name")
        return name if isinstance(name, str) else None
    return item if isinstance(item, str) else None
