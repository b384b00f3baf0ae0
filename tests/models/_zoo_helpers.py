"""Helpers for the model-zoo tests (owner: models)."""

from __future__ import annotations

from pathlib import Path

COMPAT = Path(__file__).resolve().parents[1] / "data" / "compat"


def parse_keys(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    """``<key> (<shape>)`` lines -> [(key, shape tuple)] in file order."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        key, _, shape = line.partition(" ")
        dims = shape.strip().strip("()").replace(" ", "")
        out.append((key, tuple(int(d) for d in dims.split(",") if d)))
    return out
