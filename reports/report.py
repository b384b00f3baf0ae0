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
                      plots_dir: str | Path | None = None) -> Report:
    """Build the report from a runs DataFrame (see reports.mlflow_source)."""
    from reports.markdown import render
    from reports.tables import build_tables

    tables = build_tables(df, metric=metric, stat=stat)
    md = render(tables, metric=metric, stat=stat, n_runs=len(df),
                experiments=df["experiment"].tolist(),
                runs_by_id={r["run_id"]: r for r in df.to_dict("records")})
    paths: list[Path] = []
    if plots_dir is not None:
        from reports.plots import render_plots

        paths = render_plots(df, plots_dir, metric=metric or "miou", stat=stat)
    return Report(md, tables, len(df), paths)


def build_report(*, tracking_uri: str | None = None, experiments: Sequence[str] | None = None,
                 metric: str | None = None, stat: str = "best",
                 plots_dir: str | Path | None = None) -> Report:
    """Read the runs from MLflow and build the report."""
    from reports.mlflow_source import load_runs

    df = load_runs(tracking_uri=tracking_uri, experiments=list(experiments or []))
    return report_from_frame(df, metric=metric, stat=stat, plots_dir=plots_dir)
