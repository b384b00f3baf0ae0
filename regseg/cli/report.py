"""`regseg report` (AblationStudies.md, plots) and `regseg import-logs` (reference training logs).

Both read or write MLflow only. The tracking store is ``--tracking-uri``, else
``$MLFLOW_TRACKING_URI``, else the embedded ``sqlite:///<state>/mlflow.db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from regseg.cli._output import check_format

_URI_HELP = ("MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
             "sqlite:///<state>/mlflow.db, state = $REGSEG_HOME or ./.regseg).")


def _tracking_uri(uri: str | None) -> str:
    from orchestrator.tracking.store import (
        configure_mlflow_env,
        ensure_local_store,
        resolve_tracking_uri,
    )

    configure_mlflow_env()
    resolved = resolve_tracking_uri(uri)
    ensure_local_store(resolved)
    return resolved


def _cache_dir() -> Path:
    from orchestrator.paths import state_dir

    return state_dir() / "report-cache"


def _check_report_format(value: str) -> str:
    """``--format`` callback: an unknown format is bad usage (exit 2) before anything runs."""
    from reports.report import FORMATS

    if value not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}, got {value!r}")
    return value


def import_logs_cmd(
    paths: List[Path] = typer.Argument(..., exists=True,
                                       help="Reference training_log/ directories or *.txt files."),
    experiment: Optional[str] = typer.Option(
        None, "--experiment", help="MLflow experiment (default: reference/<group>)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_URI_HELP),
    fmt: str = typer.Option("table", "--format", help="table | json", callback=check_format),
) -> None:
    """Import the reference's training logs: one MLflow run per reference run (idempotent)."""
    from regseg.cli._output import emit
    from reports.import_logs import discover, import_logs

    uri = _tracking_uri(tracking_uri)
    files = discover(paths)
    from rich.progress import Progress

    with Progress(transient=True, disable=fmt == "json") as progress:
        task = progress.add_task("importing", total=len(files))
        results = import_logs(files, experiment=experiment, tracking_uri=uri,
                              progress=lambda _p: progress.advance(task))
    rows = [{"file": r.file, "run": r.run, "group": r.group, "status": r.status,
             "best_mIoU": r.best_mIoU, "best_mIoU_reduced": r.best_mIoU_reduced,
             "run_id": r.run_id} for r in results]
    emit(rows, fmt)


def report_cmd(
    experiment: Optional[List[str]] = typer.Option(
        None, "--experiment", help="Experiment(s) to read; repeatable (default: all)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=_URI_HELP),
    out: Path = typer.Option(Path("AblationStudies.md"), "--out", help="Markdown file to write."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Directory for the plots."),
    literature: bool = typer.Option(
        False, "--literature", help="Add published points (reports/literature.csv) to the plots."),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="miou | miou_reduced (default: each group's own metric)."),
    stat: str = typer.Option("best", "--stat", help="best | last (epoch value per run)."),
    fmt: str = typer.Option("markdown", "--format", callback=_check_report_format,
                            help="markdown (write --out) | latex (write --out with .tex) | "
                                 "json | csv (table rows to stdout)."),
    study: Optional[str] = typer.Option(
        None, "--study", help="Report an Optuna study instead (history, importances, parallel "
                              "coordinates, best trials) into the directory --out "
                              "(default study-<name>/)."),
    storage: Optional[str] = typer.Option(
        None, "--storage", help="Optuna storage of --study (default sqlite:///<state>/optuna.db)."),
    no_cache: bool = typer.Option(
        False, "--no-cache",
        help="Read every run from MLflow, bypassing (and not updating) the run cache in "
             "<state>/report-cache (refreshed incrementally otherwise; the report is the same)."),
) -> None:
    """Regenerate AblationStudies.md (and plots) from MLflow runs, or report a search study."""
    from reports.errors import ReportError
    from reports.report import FORMATS, build_report

    if study is not None:
        _study_report(study, storage, out)
        return

    if fmt not in FORMATS:
        raise ReportError(f"report: --format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    result = build_report(tracking_uri=_tracking_uri(tracking_uri), experiments=experiment,
                          metric=metric, stat=stat, plots_dir=plots, literature=literature,
                          cache_dir=None if no_cache else _cache_dir())
    if fmt in ("markdown", "latex"):
        target = out if fmt == "markdown" else out.with_suffix(".tex")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(result.markdown if fmt == "markdown" else result.latex, encoding="utf-8")
        typer.echo(f"wrote {target} ({result.n_runs} runs, {len(result.tables)} tables)")
    else:
        typer.echo(result.rows_as(fmt), nl=False)
    for path in result.plot_paths:
        typer.echo(f"wrote {path}", err=fmt not in ("markdown", "latex"))


def _study_report(study: str, storage: str | None, out: Path) -> None:
    from orchestrator.paths import state_dir
    from orchestrator.uris import sqlite_url
    from reports.study import build_study_report

    storage = storage or sqlite_url(state_dir() / "optuna.db")
    if out == Path("AblationStudies.md"):
        out = Path("study-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in study))
    result = build_study_report(study, storage, out)
    (out / "study.md").write_text(result.markdown, encoding="utf-8")
    typer.echo(f"wrote {out / 'study.md'} ({sum(result.counts.values())} trials)")
    for path in result.plot_paths:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("import-logs")(import_logs_cmd)
