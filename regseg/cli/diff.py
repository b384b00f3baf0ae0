"""`regseg diff A B`: what differs between two tracked runs (config, provenance, best metrics).

A and B are MLflow run ids, queue job ids or run hashes (a prefix is enough), looked up in the
tracking store through the MLflow API.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from regseg.cli._output import check_format


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_table(result: dict[str, Any]) -> None:
    from tabulate import tabulate

    a, b = result["a"], result["b"]
    typer.echo(f"A: {a['run_id']} ({a['resolved_as']} {a['ref']})")
    typer.echo(f"B: {b['run_id']} ({b['resolved_as']} {b['ref']})")
    for title, key, cols in (("config params that differ", "params", ("name", "a", "b")),
                             ("provenance that differs", "provenance", ("name", "a", "b")),
                             ("best metrics", "metrics", ("name", "a", "b", "b_minus_a"))):
        rows = [[_show(r[c]) if c != "name" else r[c] for c in cols] for r in result[key]]
        typer.echo(f"\n{title}:")
        typer.echo(tabulate(rows, headers=["name", "A", "B", "B - A"][:len(cols)],
                            disable_numparse=True) if rows else "  (none)")


def diff_cmd(
    a: str = typer.Argument(..., help="Run A: MLflow run id, job id or run hash (prefix)."),
    b: str = typer.Argument(..., help="Run B: MLflow run id, job id or run hash (prefix)."),
    tracking_uri: Optional[str] = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                     "sqlite:///<state>/mlflow.db)."),
    fmt: str = typer.Option("table", "--format", help="table | json", callback=check_format),
) -> None:
    """Show the resolved-config params and provenance tags that differ, and best metrics."""
    from regseg.cli._output import emit
    from regseg.cli.report import _tracking_uri
    from reports.diff import diff

    _refuse_missing_store(tracking_uri)
    result = diff(a, b, tracking_uri=_tracking_uri(tracking_uri))
    if fmt == "json":
        emit(result, "json")
    else:
        _print_table(result)


def _refuse_missing_store(tracking_uri: str | None) -> None:
    """Only reads: a local store that does not exist is a mistyped URI, not an empty store."""
    from orchestrator.tracking.store import resolve_tracking_uri
    from orchestrator.uris import sqlite_missing
    from regseg.errors import RegsegError
    from regseg.exit_codes import EXIT_USAGE

    uri = resolve_tracking_uri(tracking_uri)
    if sqlite_missing(uri):
        raise RegsegError(f"tracking store {uri}: no such file; runs are looked up, never "
                          f"created (check --tracking-uri / $MLFLOW_TRACKING_URI)",
                          exit_code=EXIT_USAGE)


def register(app: typer.Typer) -> None:
    app.command("diff")(diff_cmd)
