"""The one error type suite loading and expansion raise, and how a key path is written in it."""
from __future__ import annotations

import difflib
from typing import Iterable

Path = tuple[str | int, ...]   # mapping keys (str) and sequence indices (int), root first
Problem = tuple[Path, str]     # where a suite is wrong, and how


def format_key(path: Path) -> str:
    """Dotted key path as users write it: ``scenarios[1].train.agents`` (``suite`` for the root)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "suite"


def allowed_hint(value: object, allowed: Iterable[str]) -> str:
    """``allowed: a, b, c`` plus a "did you mean" when ``value`` is close to one of them."""
    names = sorted(allowed)
    hint = f"allowed: {', '.join(names)}" if names else "nothing is allowed here"
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    return f"{hint} (did you mean {close[0]!r}?)" if close else hint


class SuiteError(Exception):
    """A problem in a suite file; ``str()`` is one line: ``FILE:LINE: KEY: message``."""

    def __init__(self, file: str, line: int, key: str, message: str) -> None:
        self.file, self.line, self.key = file, line, key
        self.message = " ".join(message.split())   # always one line
        super().__init__(f"{file}:{line}: {key}: {self.message}")


class FieldError(ValueError):
    """Raised inside a model validator to point below the validated field (``loc`` is relative)."""

    def __init__(self, loc: Path, message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
