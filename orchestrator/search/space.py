"""The searched parameters: ``--param`` text -> ``SearchParam``, merged over the spec's space."""

from __future__ import annotations

from typing import Iterable

from orchestrator.errors import SpecError
from orchestrator.specs.sections import SearchParam

#: ``--param`` kinds -> SearchParam types
KINDS = {"float": "float", "int": "int", "choice": "categorical"}


def parse_param(text: str) -> SearchParam:
    """``lr=float:0.001:0.1:log``, ``batch_size=int:2:8``, ``aug_mode=choice:baseline,custom3``."""
    import yaml

    name, sep, rest = text.partition("=")
    kind, _, args = rest.partition(":")
    if not sep or not name or kind not in KINDS:
        raise SpecError(f"--param {text!r}: expected NAME=float:LOW:HIGH[:log], NAME=int:LOW:HIGH"
                        f"[:log] or NAME=choice:A,B,...; got kind {kind!r}")
    if kind == "choice":
        values = tuple(yaml.safe_load(v) for v in args.split(",") if v != "")
        if not values:
            raise SpecError(f"--param {text!r}: expected at least one choice")
        return SearchParam(name, "categorical", choices=values)
    parts = args.split(":")
    try:
        low, high = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise SpecError(f"--param {text!r}: expected numeric LOW:HIGH, got {args!r}") from None
    if not low < high or parts[2:] not in ([], ["log"]):
        raise SpecError(f"--param {text!r}: expected LOW < HIGH and an optional ':log', "
                        f"got {args!r}")
    log = parts[2:] == ["log"]
    if log and low <= 0:
        raise SpecError(f"--param {text!r}: expected LOW > 0 for a log scale, got {low}")
    return SearchParam(name, KINDS[kind], low, high, log=log)


def merge_space(spec_space: Iterable[SearchParam],
                overrides: Iterable[SearchParam]) -> list[SearchParam]:
    """The spec's parameters with ``--param`` ones replacing those of the same name (in the
    spec's order), new ones appended."""
    merged = {p.name: p for p in spec_space}
    merged.update({p.name: p for p in overrides})
    return list(merged.values())
