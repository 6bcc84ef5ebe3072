"""Load a suite file: safe YAML → typed :class:`Suite`, checked against the registries.

Run as ``python -m harness.suite.loader FILE`` to validate and expand a suite: prints
``OK: N runs`` (exit 0) or the one-line error (exit 2).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path as FsPath
from typing import Sequence

from pydantic import ValidationError

from harness.suite.checks import registry_problems
from harness.suite.errors import Problem, SuiteError
from harness.suite.models import Suite
from harness.suite.overrides import apply_overrides
from harness.suite.source import SourceMap, read_yaml
from harness.suite.validation import problems_from

_TOP_KEYS = ", ".join(Suite.model_fields)


def load_suite(path: str | FsPath, overrides: Sequence[str] = ()) -> Suite:
    """Read, validate and check the suite at ``path``; raise :class:`SuiteError` on the first problem by line.

    ``overrides`` (``KEY=VALUE`` texts, :mod:`harness.suite.overrides`) change the file's data before
    validation, so the overridden suite is checked exactly like a file; their problems come first.
    """
    data, source = _read(path, overrides)
    try:
        suite = Suite.model_validate(data, strict=True)   # YAML "5" is not the count 5
    except ValidationError as err:
        raise _first(problems_from(err, data, Suite), source) from None
    problems = registry_problems(suite)
    if problems:
        raise _first(problems, source)
    suite._source = source
    return suite


def suite_hash(path: str | FsPath, overrides: Sequence[str] = ()) -> str:
    """sha256 of the suite's parsed content, overrides applied, as canonical JSON: comments and
    layout do not count; any override changes it (an overridden suite is renamed)."""
    data, _ = _read(path, overrides)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _read(path: str | FsPath, overrides: Sequence[str] = ()) -> tuple[dict, SourceMap]:
    """The file's data (a mapping) with ``overrides`` applied, and its source map."""
    file = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SuiteError(file, 1, "suite", f"cannot read the suite file: {err}") from None
    data, source = read_yaml(text, file)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SuiteError(file, source.line_of(()), "suite", f"a suite is a mapping with keys {_TOP_KEYS}; got {got}")
    return apply_overrides(data, source, overrides) if overrides else (data, source)


def _first(problems: list[Problem], source: SourceMap) -> SuiteError:
    """The problem on the earliest line (ties: the first reported) as a :class:`SuiteError`."""
    path, message = min(problems, key=lambda p: source.line_of(p[0]))
    return source.error(path, message)


def main(argv: list[str] | None = None) -> int:
    """Validate and expand one suite file; print ``OK: N runs`` or the error line."""
    from harness.suite.expand import expand  # the expansion step validates capabilities too

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m harness.suite.loader SUITE.yaml", file=sys.stderr)
        return 2
    try:
        runs = expand(load_suite(args[0]))
    except SuiteError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"OK: {len(runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
