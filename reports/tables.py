"""Runs DataFrame -> report tables (one or two per group), in the paper's shapes.

Each row of a table aggregates the runs mapped to one key: ``mean ± std (n)`` of the chosen
statistic (the best-epoch or the last-epoch value of mIoU or mIoU^R, percent), its 95% t
interval, the mean last-epoch value, and the comparison with the table's baseline row
(reports.statistics: Welch p, Holm-adjusted over the table, Hedges' g, seeds needed, verdict).
Rows are sorted by mean descending, ties by key; runs inside a row by (reference run, seed, run
id). Every row keeps its MLflow run ids for the appendix.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from reports.errors import ReportError
from reports.matrix import matrix_cells
from reports.mlflow_source import frame_records, member_groups
from reports.shapes import KEYS, SHAPES, SOURCES, TableShape, shape_for
from reports.statistics import Comparison, compare_to_baseline, family_note, t_interval
from reports.stats import DASH, Summary, fmt_delta, fmt_float, fmt_p

METRICS = {  # name -> (best column, last column, label)
    "miou": ("best_mIoU", "last_mIoU", "mIoU"),
    "miou_reduced": ("best_mIoU_reduced", "last_mIoU_reduced", "mIoU^R"),
}
STATS = ("best", "last")


@dataclass
class Row:
    key: str
    runs: list[dict[str, Any]]
    main: Summary
    last: Summary
    values: list[float | None]
    delta: float | None = None
    p: float | None = None
    is_baseline: bool = False
    comparison: Comparison | None = None
    ci: tuple[float, float] | None = None

    @property
    def rep(self) -> dict[str, Any]:
        return self.runs[0]

    @property
    def run_ids(self) -> list[str]:
        return [r["run_id"] for r in self.runs]


@dataclass
class Table:
    """A rendered-ready table: headers, string cells, plus records and run-id traces."""

    group: str
    title: str
    headers: list[str]
    cells: list[list[str]]
    notes: list[str] = field(default_factory=list)
    trace: list[tuple[str, list[str]]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


def _run_order(run: dict[str, Any]) -> tuple:
    def num(v: Any) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("inf")
    return (num(run.get("reference_run")), num(run.get("seed")), str(run["run_id"]))


def runs_for(records: list[dict[str, Any]], shape: TableShape, group: str) -> list[dict[str, Any]]:
    """Run records of ``group`` plus the runs ``shape`` borrows from other groups."""
    own = [r for r in records if group in member_groups(r)]
    seen = {r["run_id"] for r in own}
    for other, pattern in shape.borrow:
        own += [r for r in records if r["group"] == other and r["run_id"] not in seen
                and fnmatch.fnmatchcase(str(r["model"]), pattern)]
    return own


def build_rows(runs: list[dict[str, Any]], *, key: Callable, metric: str, stat: str,
               baseline: str | None) -> list[Row]:
    """Group runs by ``key``, summarise, sort, and fill deltas against the baseline row."""
    best_col, last_col, _ = METRICS[metric]
    col = best_col if stat == "best" else last_col
    by_key: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_key.setdefault(key(run), []).append(run)
    rows = []
    for k, members in by_key.items():
        members = sorted(members, key=_run_order)
        values = [m.get(col) for m in members]
        rows.append(Row(k, members, Summary.of(values),
                        Summary.of([m.get(last_col) for m in members]), values))
    rows.sort(key=lambda r: r.key)
    rows.sort(key=lambda r: -r.main.mean if r.main.mean is not None else float("inf"))
    # the shape's baseline (a key or an fnmatch pattern), else the first row in key order, so
    # the reference row never depends on the results
    base = next((r for r in rows if baseline and (r.key == baseline
                                                  or fnmatch.fnmatchcase(r.key, baseline))),
                min(rows, key=lambda r: r.key) if rows else None)
    comparisons = compare_to_baseline([r.values for r in rows], rows.index(base)) if rows else []
    for row, comparison in zip(rows, comparisons):
        row.is_baseline = row is base
        row.ci = t_interval(row.values)
        row.comparison = comparison
        if row is not base and base.main.mean is not None and row.main.mean is not None:
            row.delta = row.main.mean - base.main.mean
            row.p = comparison.p
    return rows


def fmt_ci(ci: tuple[float, float] | None) -> str:
    return DASH if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def fmt_g(row: Row) -> str:
    return DASH if row.comparison is None else fmt_float(row.comparison.hedges_g)


def verdict(row: Row) -> str:
    return "baseline" if row.is_baseline else (row.comparison.verdict if row.comparison else DASH)


def holm_header(rows: list[Row]) -> str:
    return f"p (Holm, k={n_tests(rows)})"


def n_tests(rows: list[Row]) -> int:
    return sum(1 for r in rows if r.comparison is not None and r.comparison.p is not None)


def stats_notes(rows: list[Row]) -> list[str]:
    return [family_note(n_tests(rows))] if any(r.comparison for r in rows) else []


def _record(group: str, shape: TableShape, row: Row, metric: str, stat: str) -> dict[str, Any]:
    c = row.comparison
    return {"group": group, "table": shape.name, "key": row.key,
            "config_label": row.rep.get("config_label"), "model": row.rep.get("model"),
            "metric": metric, "stat": stat, "mean": row.main.mean, "std": row.main.std,
            "n": row.main.n, "ci_low": row.ci[0] if row.ci else None,
            "ci_high": row.ci[1] if row.ci else None, "last_mean": row.last.mean,
            "delta": row.delta, "p_value": row.p, "p_holm": c.p_holm if c else None,
            "hedges_g": c.hedges_g if c else None, "seeds_needed": c.seeds_needed if c else None,
            "verdict": verdict(row), "baseline": row.is_baseline,
            "run_ids": ";".join(row.run_ids)}


def _delta_header(rows: list[Row]) -> str:
    base = next((r.key for r in rows if r.is_baseline), "baseline")
    return f"Δ vs {base}" if len(base) <= 32 else "Δ vs baseline"


def _rows_table(group, shape, rows, metric, stat, *, title=None) -> Table:
    label = METRICS[metric][2]
    headers = [h for h, _ in shape.columns] + [f"{label} ({stat} epoch)", "95% CI",
                                               f"{label} last epoch", _delta_header(rows),
                                               "p (Welch)", holm_header(rows), "Hedges' g",
                                               "verdict"]
    show_paper = shape.published is not None and metric == shape.metric
    if show_paper:
        headers.append(f"paper {label}")
    cells = []
    for row in rows:
        line = [SOURCES[src](row.key, row.rep) for _, src in shape.columns]
        line += [row.main.cell(), fmt_ci(row.ci), fmt_float(row.last.mean),
                 "baseline" if row.is_baseline else fmt_delta(row.delta), fmt_p(row.p),
                 fmt_p(row.comparison.p_holm if row.comparison else None), fmt_g(row),
                 verdict(row)]
        if show_paper:
            line.append(fmt_float(shape.published.get(row.key)))
        cells.append(line)
    notes = stats_notes(rows)
    notes += [f"paper values: {shape.published_source}"] if show_paper else []
    return Table(group, title or shape.title, headers, cells, notes,
                 [(f"{group} / {r.key}", r.run_ids) for r in rows],
                 [_record(group, shape, r, metric, stat) for r in rows])


def _matrix_table(group, shape, runs, metric, stat) -> list[Table]:
    rows = build_rows(runs, key=KEYS["resize_crop"], metric=metric, stat=stat,
                      baseline=shape.baseline)
    by_cell = {(KEYS[shape.key](r.rep), KEYS[shape.col_key](r.rep)): r for r in rows}
    def size_order(text: str) -> tuple:
        nums = [int(t) for t in text.replace("x", "-").split("-") if t.isdigit()]
        return (nums, text)
    row_keys = sorted({k for k, _ in by_cell}, key=size_order)
    col_keys = sorted({c for _, c in by_cell}, key=size_order)
    label = METRICS[metric][2]
    cells = [[rk] + [by_cell[(rk, ck)].main.cell() if (rk, ck) in by_cell else DASH
                     for ck in col_keys] for rk in row_keys]
    matrix = Table(group, f"{shape.title}: {label} ({stat} epoch)",
                   ["resize \\ crop"] + col_keys, cells)
    detail_shape = TableShape(**{**shape.__dict__,
                                 "columns": (("resize", "resize"), ("crop", "crop"))})
    detail = _rows_table(group, detail_shape, rows, metric, stat, title=f"{shape.title}: details")
    return [matrix, detail]


def _per_run_table(group, shape, runs, metric, stat) -> list[Table]:
    rows = build_rows(runs, key=KEYS[shape.key], metric=metric, stat=stat, baseline=shape.baseline)
    label = METRICS[metric][2]
    names = [SOURCES[shape.columns[0][1]](r.key, r.rep) for r in rows]
    if len(set(names)) < len(names):
        names = [r.key for r in rows]
    depth = max(len(r.runs) for r in rows)
    cells = [[f"run {i + 1}"] + [fmt_float(r.values[i]) if i < len(r.values) else DASH
                                 for r in rows]
             for i in range(depth)]
    cells += [
        ["mean ± std (n)"] + [r.main.cell() for r in rows],
        [f"{label} last epoch (mean)"] + [fmt_float(r.last.mean) for r in rows],
        [_delta_header(rows)] + ["baseline" if r.is_baseline else fmt_delta(r.delta) for r in rows],
        ["p (Welch)"] + [fmt_p(r.p) for r in rows],
        [holm_header(rows)] + [fmt_p(r.comparison.p_holm if r.comparison else None) for r in rows],
        ["Hedges' g"] + [fmt_g(r) for r in rows],
        ["95% CI"] + [fmt_ci(r.ci) for r in rows],
        ["verdict"] + [verdict(r) for r in rows],
        ["params"] + [SOURCES["params"](r.key, r.rep) for r in rows],
        ["GFLOPs"] + [SOURCES["gflops"](r.key, r.rep) for r in rows],
    ]
    table = Table(group, f"{shape.title}: {label} ({stat} epoch) per run", ["run"] + names, cells,
                  stats_notes(rows), [(f"{group} / {r.key}", r.run_ids) for r in rows],
                  [_record(group, shape, r, metric, stat) for r in rows])
    return [table]


def _rows_layout(group, shape, runs, metric, stat) -> list[Table]:
    """The rows table, then the two-axis matrix when the runs vary exactly two axes."""
    rows = build_rows(runs, key=KEYS[shape.key], metric=metric, stat=stat, baseline=shape.baseline)
    tables = [_rows_table(group, shape, rows, metric, stat)]
    best_col, last_col, label = METRICS[metric]
    matrix = matrix_cells(runs, best_col if stat == "best" else last_col)
    if matrix is not None:
        headers, cells = matrix
        tables.append(Table(group, f"{shape.title}: {label} ({stat} epoch), {headers[0]}",
                            headers, cells, ["mean ± std (n) of the runs at each grid point"]))
    return tables


LAYOUTS = {
    "rows": _rows_layout,
    "matrix": _matrix_table,
    "per_run": _per_run_table,
}


def group_order(groups: list[str]) -> list[str]:
    """Paper order for known groups, then the others by name."""
    rank = {g: i for i, s in enumerate(SHAPES) for g in s.groups}
    return sorted(groups, key=lambda g: (rank.get(g, len(SHAPES)), g))


def build_tables(df, *, metric: str | None = None, stat: str = "best") -> list[Table]:
    """All tables for the runs in ``df`` (see reports.mlflow_source for its columns).

    ``metric`` None uses each group's own metric (mIoU^R for ablations, mIoU for comparisons).
    """
    if metric is not None and metric not in METRICS:
        raise ReportError(f"report: --metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if stat not in STATS:
        raise ReportError(f"report: --stat must be one of {', '.join(STATS)}, got {stat!r}")
    tables: list[Table] = []
    records = frame_records(df)
    groups = {g for rec in records for g in member_groups(rec)}
    for group in group_order(sorted(groups)):
        shape = shape_for(group)
        runs = runs_for(records, shape, group)
        tables += LAYOUTS[shape.layout](group, shape, runs, metric or shape.metric, stat)
    return tables
