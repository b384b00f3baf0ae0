"""Shape checks for one spec document, before anything is merged, expanded or written.

Each top-level key has one checker (the table ``TOP_LEVEL``); a checker raises SpecError through
``Where.fail`` naming the file, the key path, the line, the expected and the actual value.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from orchestrator.errors import SpecError
from orchestrator.specs.source import KeyPath, format_path

#: Keys the spec may set on top of TrainConfig fields: they build ``model_name``.
MODEL_PARTS = ("body", "decoder")


@dataclass(frozen=True)
class Where:
    """Locates errors inside one spec file."""

    file: Path
    lines: dict

    def line(self, path: KeyPath) -> int | None:
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def fail(self, path: KeyPath, message: str) -> SpecError:
        line = self.line(path)
        where = f"{self.file}" + (f", line {line}" if line else "")
        return SpecError(f"{where}: {format_path(path)}: {message}")


def describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 60 else text[:57] + '...'}"


def suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _string(where: Where, path: KeyPath, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise where.fail(path, f"expected a non-empty string, got {describe(value)}")


#: Spec names and groups become MLflow experiment names and directory names: plain identifiers.
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _identifier(where: Where, path: KeyPath, value: Any) -> None:
    _string(where, path, value)
    if not IDENTIFIER.fullmatch(value) or ".." in value:
        raise where.fail(path, f"expected a plain identifier (letters, digits, '-', '_', '.'; "
                               f"starting with a letter or digit, no '..'), got {value!r}")


def _mapping(where: Where, path: KeyPath, value: Any) -> None:
    if not isinstance(value, dict):
        raise where.fail(path, f"expected a mapping, got {describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise where.fail(path, f"expected string keys, got {describe(key)}")


def _axes(where: Where, path: KeyPath, value: Any) -> None:
    """A mapping axis -> non-empty list of distinct values."""
    _mapping(where, path, value)
    if not value:
        raise where.fail(path, "expected at least one axis, got an empty grid")
    for axis, values in value.items():
        at = path + (axis,)
        if not isinstance(values, list):
            raise where.fail(at, f"expected a list of values, got {describe(values)}")
        if not values:
            raise where.fail(at, "expected a non-empty list of values, got an empty list")
        seen: list = []
        for i, v in enumerate(values):
            if v in seen:
                raise where.fail(at + (i,), f"duplicate value {v!r} in axis '{axis}'")
            seen.append(v)


def _zip(where: Where, path: KeyPath, value: Any) -> None:
    """One zip group (axis -> list, all of one length) or a list of such groups."""
    groups = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        raise where.fail(path, "expected at least one zip group, got an empty list")
    for i, group in enumerate(groups):
        at = path + (i,) if isinstance(value, list) else path
        if not isinstance(group, dict):
            raise where.fail(at, f"expected a mapping of axis -> list, got {describe(group)}")
        for axis, values in group.items():
            if not isinstance(values, list) or not values:
                raise where.fail(at + (axis,), f"expected a non-empty list, got {describe(values)}")
        lengths = {axis: len(values) for axis, values in group.items()}
        if not lengths:
            raise where.fail(at, "expected at least one axis, got an empty zip group")
        first = next(iter(lengths.values()))
        for axis, n in lengths.items():
            if n != first:
                raise where.fail(at + (axis,),
                                 f"expected axes of equal length, got lengths {lengths}")


def _points(where: Where, path: KeyPath, value: Any) -> None:
    if not isinstance(value, list):
        raise where.fail(path, f"expected a list of points (mappings), got {describe(value)}")
    for i, point in enumerate(value):
        if not isinstance(point, dict) or not point:
            raise where.fail(path + (i,), f"expected a non-empty mapping, got {describe(point)}")


def _seeds(where: Where, path: KeyPath, value: Any) -> None:
    if isinstance(value, dict):  # adaptive: {max, min, stop_when, margin, alpha, ...}
        from orchestrator.specs.sections import check_seed_policy

        return check_seed_policy(where, path, value)
    if _is_int(value):
        if value < 1:
            raise where.fail(path, f"expected a count >= 1 or a list of seeds, got {value}")
        return
    if not isinstance(value, list) or not value or not all(_is_int(s) and s >= 0 for s in value):
        raise where.fail(path, f"expected a count >= 1, a non-empty list of seeds >= 0 or an "
                               f"adaptive mapping {{max: N, ...}}, got {describe(value)}")
    dup = sorted({s for s in value if value.count(s) > 1})
    if dup:
        raise where.fail(path, f"duplicate seeds {dup}")


def _repeats(where: Where, path: KeyPath, value: Any) -> None:
    if not _is_int(value) or value < 1:
        raise where.fail(path, f"expected a count >= 1, got {describe(value)}")


def _tags(where: Where, path: KeyPath, value: Any) -> None:
    _mapping(where, path, value)
    for key, v in value.items():
        if not isinstance(v, (str, int, float, bool)):
            raise where.fail(path + (key,), f"expected a scalar tag value, got {describe(v)}")


RESOURCE_KEYS = {"gpus": 1}


def _resources(where: Where, path: KeyPath, value: Any) -> None:
    _mapping(where, path, value)
    for key, v in value.items():
        if key not in RESOURCE_KEYS:
            raise where.fail(path + (key,), f"unknown resource key{suggest(key, RESOURCE_KEYS)}; "
                                            f"expected one of {sorted(RESOURCE_KEYS)}")
        if not _is_int(v) or v < 0:
            raise where.fail(path + (key,), f"expected an integer >= 0, got {describe(v)}")
        if key == "gpus" and v > 1:
            raise where.fail(path + (key,), f"expected 0 or 1 (a job runs on one GPU slot; "
                                            f"multi-GPU jobs do not exist yet), got {v}")


def _search(where: Where, path: KeyPath, value: Any) -> None:
    from orchestrator.specs.sections import check_search

    check_search(where, path, value)


TOP_LEVEL: dict[str, Callable[[Where, KeyPath, Any], None]] = {
    "name": _identifier,
    "description": lambda w, p, v: None if isinstance(v, str) else _string(w, p, v),
    "group": _identifier,
    "extends": _string,
    "base": _mapping,
    "grid": _axes,
    "zip": _zip,
    "include": _points,
    "exclude": _points,
    "seeds": _seeds,
    "repeats": _repeats,
    "tags": _tags,
    "resources": _resources,
    "search": _search,
}


def check_document(where: Where, data: Any) -> dict:
    """Check one parsed spec file's shape; return it as a dict."""
    if data is None:
        raise where.fail((), "expected a mapping of spec keys, got an empty file")
    if not isinstance(data, dict):
        raise where.fail((), f"expected a mapping of spec keys, got {describe(data)}")
    for key, value in data.items():
        if key not in TOP_LEVEL:
            raise where.fail((key,), f"unknown spec key{suggest(key, TOP_LEVEL)}; expected one of "
                                     f"{', '.join(TOP_LEVEL)}")
        TOP_LEVEL[key](where, (key,), value)
    return data


def check_config_keys(where: Where, path: KeyPath, keys: Iterable[str],
                      fields: Iterable[str]) -> None:
    """Every key must be a TrainConfig field or a model part (body, decoder)."""
    known = set(fields) | set(MODEL_PARTS)
    for key in keys:
        if key not in known:
            raise where.fail(path + (key,), f"unknown TrainConfig field{suggest(key, known)}")
        if key == "seed" and path[:1] != ("base",):
            raise where.fail(path + (key,),
                             "seed is not a grid axis; use the top-level 'seeds' key")
