"""Safe YAML reading that remembers the line of every mapping key and sequence item.

Nodes are composed with ``yaml.SafeLoader`` (no code execution) and turned into plain data here, so
duplicate keys are refused and every error can name a line. Mapping keys are kept as the text the
user wrote (``6:`` is the key ``"6"``), because every key in a suite is a name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.suite.errors import Path, SuiteError, format_key

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 200_000   # bound on alias expansion ("billion laughs")


@dataclass(frozen=True)
class SourceMap:
    """Where each key path of one suite file starts (1-based lines)."""

    file: str
    lines: dict[Path, int]

    def line_of(self, path: Path) -> int:
        """Line of ``path``, or of its nearest ancestor present in the file."""
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: Path, message: str) -> SuiteError:
        """A :class:`SuiteError` located at ``path``."""
        return SuiteError(self.file, self.line_of(path), format_key(path), message)


def read_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its :class:`SourceMap`; raise :class:`SuiteError`."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        builder = _Builder(loader, file)
        data = builder.build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        context = err.context or ""
        if context and err.context_mark is not None and err.context_mark.line + 1 != line:
            context += f" started on line {err.context_mark.line + 1}"
        what = ": ".join(str(p) for p in (context, err.problem) if p)
        raise SuiteError(file, line, "yaml", f"invalid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise SuiteError(file, 1, "yaml", f"invalid YAML: {err}") from None
    finally:
        loader.dispose()
    return data, SourceMap(file, builder.lines if node is not None else {})


class _Builder:
    """Walks composed nodes into dicts, lists and scalars, recording lines by key path."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader, self.file = loader, file
        self.lines: dict[Path, int] = {}
        self.visited = 0

    def fail(self, node: Node, path: Path, message: str) -> SuiteError:
        return SuiteError(self.file, node.start_mark.line + 1, format_key(path), message)

    def build(self, node: Node, path: Path) -> Any:
        self.visited += 1
        if self.visited > _MAX_NODES:
            raise self.fail(node, path, f"document expands to more than {_MAX_NODES} nodes (aliases?)")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as err:
                raise self.fail(node, path, f"{err.problem}; suites hold plain data only") from None
            except (ValueError, TypeError) as err:
                raise self.fail(node, path, f"cannot read {node.value!r} as {node.tag}: {err}") from None
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self.fail(node, path, f"unsupported YAML tag {node.tag}; suites hold plain lists only")
            return [self.build_item(item, path + (i,)) for i, item in enumerate(node.value)]
        if node.tag != _MAP_TAG:
            raise self.fail(node, path, f"unsupported YAML tag {node.tag}; suites hold plain mappings only")
        return self.build_mapping(node, path)

    def build_item(self, node: Node, path: Path) -> Any:
        self.lines[path] = node.start_mark.line + 1
        return self.build(node, path)

    def build_mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        """Merged (``<<``) entries first, then the node's own keys, which must be unique."""
        out: dict[str, Any] = {}
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for src in sources:
                    if not isinstance(src, MappingNode):
                        raise self.fail(src, path, "a merge key (<<) must refer to a mapping")
                    out.update(self.build_mapping(src, path))
            else:
                own.append((key_node, value_node))
        seen: dict[str, int] = {}
        for key_node, value_node in own:
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, path, "mapping keys must be plain names, not lists or mappings")
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.fail(key_node, path + (key,), f"duplicate key {key!r} (first defined on line {seen[key]})")
            seen[key] = line
            self.lines[path + (key,)] = line
            out[key] = self.build(value_node, path + (key,))
        return out
