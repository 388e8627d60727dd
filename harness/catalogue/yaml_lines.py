"""YAML loading that remembers on which line every key stands, so errors can say ``FILE:LINE``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError

Path_ = tuple[str | int, ...]


# libyaml's parser when PyYAML was built with it (the wheels are): the same safe constructor, ~10x faster
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_with_lines(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse ``path``; return the data and a map from key path (tuple) to 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise HarnessError("file not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise HarnessError("not UTF-8 text", file=path) from exc
    loader = _Loader(text)
    try:  # composed once: the data is constructed from the same nodes whose marks give the lines
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise HarnessError(f"malformed YAML: {problem}", file=path, line=line) from exc
    finally:
        loader.dispose()
    if node is None:
        return {}, {}
    lines: dict[Path_, int] = {}
    _index(node, (), lines)
    return data, lines


def _index(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping as a key: the schema refuses it; no line to remember
            where = (*path, key_node.value)
            lines[where] = key_node.start_mark.line + 1
            _index(value_node, where, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), lines)


def line_of(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None
