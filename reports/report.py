"""One entry point for the whole report: MLflow -> DataFrame -> tables -> markdown (+ plots)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from reports.tables import Table

FORMATS = ("markdown", "latex", "json", "csv")


@dataclass
class Report:
    markdown: str
    tables: list[Table]
    n_runs: int
    plot_paths: list[Path] = field(default_factory=list)

    @property
    def latex(self) -> str:
        """The tables as a LaTeX document (one booktabs table per group)."""
        from reports.latex import render_document

        return render_document(self.tables)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One record per table row (the numbers behind the markdown), in table order."""
        return [rec for t in self.tables for rec in t.records]

    def rows_as(self, fmt: str) -> str:
        """The rows as JSON (a list of objects) or CSV text; deterministic."""
        if fmt == "json":
            return json.dumps(self.rows, indent=2, sort_keys=False) + "\n"
        import pandas as pd

        buf = io.StringIO()
        pd.DataFrame.from_records(self.rows).to_csv(buf, index=False, float_format="%.6f",
                                                    lineterminator="\n")
        return buf.getvalue()


def report_from_frame(df, *, metric: str | None = None, stat: str = "best",
                      plots_dir: str | Path | None = None, literature: bool = False,
                      histories: dict[str, dict[str, Any]] | None = None) -> Report:
    """Build the report from a runs DataFrame (see reports.mlflow_source). With ``plots_dir``
    the cost plots are written, and the per-epoch curves when ``histories`` (metric ->
    run id -> [(epoch, value)]) is given."""
    from reports.markdown import render
    from reports.mlflow_read import heap_frozen
    from reports.mlflow_source import frame_records
    from reports.tables import build_tables

    with heap_frozen():  # statsmodels' Holm correction calls gc.collect() (tables.py)
        tables = build_tables(df, metric=metric, stat=stat)
        md = render(tables, metric=metric, stat=stat, n_runs=len(df),
                    experiments=df["experiment"].tolist(),
                    runs_by_id={r["run_id"]: r for r in frame_records(df)})
    paths: list[Path] = []
    if plots_dir is not None:
        from reports.plots import render_plots

        paths = render_plots(df, plots_dir, metric=metric or "miou", stat=stat,
                             literature=literature)
        if histories is not None:
            from reports.curves import render_curves

            paths += render_curves(df, histories, plots_dir)
    return Report(md, tables, len(df), paths)


def build_report(*, tracking_uri: str | None = None, experiments: Sequence[str] | None = None,
                 metric: str | None = None, stat: str = "best",
                 plots_dir: str | Path | None = None, literature: bool = False,
                 cache_dir: str | Path | None = None,
                 cache_stats: dict[str, Any] | None = None) -> Report:
    """Read the runs from MLflow and build the report (metric histories only for plots).

    With ``cache_dir`` the runs come through the local run cache there (reports.run_cache;
    the same report as without it); ``cache_stats`` gets each experiment's refresh."""
    from reports.mlflow_source import load_histories, load_runs

    df = load_runs(tracking_uri=tracking_uri, experiments=list(experiments or []),
                   cache_dir=cache_dir, stats=cache_stats)
    histories = None
    if plots_dir is not None:
        ids = df["run_id"].tolist()
        reduced = load_histories(ids, "mIoU_reduced", tracking_uri=tracking_uri)
        plain = load_histories([r for r in ids if not reduced[r]], "mIoU",
                               tracking_uri=tracking_uri)
        histories = {"mIoU_reduced": reduced, "mIoU": plain}
    report = report_from_frame(df, metric=metric, stat=stat, plots_dir=plots_dir,
                               literature=literature, histories=histories)
    if plots_dir is not None:
        from reports.predictions import prediction_figures

        figures = prediction_figures(df, tracking_uri=tracking_uri, out_dir=plots_dir)
        report.plot_paths.extend(figures)
        if figures:
            report.markdown += "\n## Sample predictions\n\n" + "".join(
                f"![{p.stem}]({p.name})\n\n" for p in figures)
    from reports.arms import section_for

    report.markdown += section_for(tracking_uri, df["experiment"].tolist() if len(df) else [])
    return report
