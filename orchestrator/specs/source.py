"""Safe YAML loading that remembers the line of every key, so spec errors can point at it.

Parsing goes through ``yaml.SafeLoader`` only (no arbitrary object construction); the node tree
the loader composes is walked once more to map each key path to its 1-based line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import SpecError

KeyPath = tuple  # of str (mapping keys) and int (sequence indexes)
MAX_NODES = 100_000  # after alias expansion: nested aliases must not make a tiny file hang us


class _LineLoader(yaml.SafeLoader):
    """SafeLoader; kept as a subclass so no global resolver/constructor state is touched."""


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = path + (key_node.value,)
                lines[child] = key_node.start_mark.line + 1
                _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``path`` safely; return the data and ``{key path: line}``.

    Raises SpecError (with the line) on unreadable files and YAML syntax errors, and on
    duplicate keys in one mapping (YAML would silently keep the last one).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: expected UTF-8 YAML text, got bytes that are not UTF-8 "
                        f"(0x{raw[exc.start]:02x} at byte {exc.start})") from None
    if "\x00" in text:
        raise SpecError(f"{path}: expected YAML text, got a binary file (NUL byte at character "
                        f"{text.index(chr(0))})")
    try:
        loader = _LineLoader(text)  # the reader checks the first chunk's characters here
    except yaml.reader.ReaderError as exc:
        raise SpecError(_unreadable(path, exc)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_duplicate_keys(path, node, ())
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:  # a later chunk's characters
        raise SpecError(_unreadable(path, exc)) from None
    except RecursionError:  # the composer recurses once per nesting level
        raise SpecError(f"{path}: invalid YAML: expected a spec, got lists or mappings nested "
                        f"deeper than the loader can follow") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path}{where}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    _walk(node, (), lines)
    return data, lines


def _unreadable(path: Path, exc: yaml.reader.ReaderError) -> str:
    """One line for a character YAML does not accept (its own message spans two lines)."""
    return (f"{path}: invalid YAML: expected printable characters, got #x{exc.character:04x} "
            f"at character {exc.position}")


def _check_duplicate_keys(path: Path, node: yaml.Node, at: KeyPath,
                          budget: list | None = None) -> None:
    budget = [MAX_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(f"{path}, line {node.start_mark.line + 1}: {format_path(at)}: expected at "
                        f"most {MAX_NODES} YAML nodes once anchors/aliases are expanded, got more")
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = getattr(key_node, "value", None)
            if isinstance(key, str) and key in seen:
                raise SpecError(
                    f"{path}, line {key_node.start_mark.line + 1}: key "
                    f"'{format_path(at + (key,))}' is given twice (first on line {seen[key]})")
            if isinstance(key, str):
                seen[key] = key_node.start_mark.line + 1
                _check_duplicate_keys(path, value_node, at + (key,), budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(path, item, at + (i,), budget)


def format_path(path: KeyPath) -> str:
    """('grid', 'lr', 2) -> 'grid.lr[2]'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"
