"""Output helpers shared by every command: a table for people, JSON for machines."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

FORMATS = ("table", "json")


def check_format(value: str) -> str:
    """``--format`` callback: reject an unknown format before the command does anything (exit 2)."""
    if value not in FORMATS:
        import typer

        raise typer.BadParameter(f"expected {' or '.join(FORMATS)}, got {value!r}")
    return value


def emit(rows: Sequence[dict[str, Any]] | dict[str, Any], fmt: str = "table", *,
         columns: Iterable[str] | None = None, floatfmt: str = ".2f") -> None:
    """Print ``rows`` as a table (tabulate) or as JSON (a list of objects, or one object)."""
    if fmt == "json":
        json.dump(rows, sys.stdout, indent=2, sort_keys=False, default=str)
        sys.stdout.write("\n")
        return
    if fmt != "table":
        raise SystemExit(f"error: --format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    from tabulate import tabulate

    if isinstance(rows, dict):
        rows = [{"key": k, "value": v} for k, v in rows.items()]
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    table = [[r.get(c, "") for c in cols] for r in rows]
    print(tabulate(table, headers=cols, floatfmt=floatfmt, intfmt=","))
