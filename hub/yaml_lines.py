"""YAML read strictly, with the line of every field: for files whose errors must name file, line and field.

:func:`parse_yaml` refuses duplicate keys, non-scalar keys, and documents that aliases would blow up
or nest too deep; it answers the document and a map of field paths (``routes[1].channels[0]``) to
line numbers, which :func:`line_of` looks a field (or its nearest parent) up in.
"""

from __future__ import annotations

from typing import Any, Mapping

import yaml

from . import schemas
from .errors import ConfigError

#: limits on a document: what aliases could make of it
MAX_ALIASES = 100
MAX_DEPTH = 32
MAX_EXPANDED_NODES = 20_000


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys, which plain YAML loaders silently resolve to the last one,
    and documents that aliases would expand past :data:`MAX_EXPANDED_NODES` (a "billion laughs") or that
    nest deeper than :data:`MAX_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases", self.peek_event().start_mark
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a plain value, not a {type(key).__name__}", key_node.start_mark
                )
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first[key] + 1})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The document and a map of field paths (``routes[1].channels[0]``) to 1-based line numbers."""
    loader = None
    try:
        loader = _StrictLoader(text)  # the reader checks the characters here already
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        raise ConfigError(f"{source}{where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")) from e
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines)
    return data, lines


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph that aliases expand past the limits, or that refers to itself.

    Counted without expanding anything: each node's expanded size and depth once, children first.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_EXPANDED_NODES:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases expand the document past {MAX_EXPANDED_NODES} values", node.start_mark
                )
            if depth[key] > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases nest the document more than {MAX_DEPTH} levels deep", node.start_mark
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise yaml.composer.ComposerError(None, None, "an alias refers to a node that contains it", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _index_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            _index_lines(value_node, f"{path}.{key}" if path else key, lines)
            lines[f"{path}.{key}" if path else key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, f"{path}[{i}]", lines)


def line_of(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``path``, or of its nearest parent that exists (a missing field: its mapping)."""
    while True:
        if path in lines:
            return lines[path]
        if not path or path == schemas.ROOT:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
