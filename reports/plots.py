"""mIoU vs GFLOPs and mIoU vs params plots (matplotlib, Agg), PNG and SVG.

One point per configuration (group, config label) at the mean of the chosen statistic with a
std error bar; the Pareto front of this project's points (reports.pareto) drawn as a step line;
published points from ``literature.csv`` (Cityscapes *test* mIoU, with their source) in a
distinct marker. Files: ``miou_vs_gflops.{png,svg}`` and ``miou_vs_params.{png,svg}``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from reports.pareto import pareto_front
from reports.shapes import fact
from reports.stats import Summary
from reports.tables import METRICS

LITERATURE = Path(__file__).with_name("literature.csv")
AXES = (  # file stem, fact column, literature column, x label, scale to the axis unit
    ("miou_vs_gflops", "model_gflops", "gflops", "GFLOPs (1x3x1024x2048)", 1.0),
    ("miou_vs_params", "model_params", "params_m", "parameters (M)", 1e-6),
)


def read_literature(path: str | Path = LITERATURE) -> list[dict[str, Any]]:
    """Rows of the published-points file; numbers as floats (None when blank)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("test_mIoU", "gflops", "params_m", "fps"):
            row[key] = float(row[key]) if row.get(key) else None
    return rows


def configuration_points(df, *, metric: str = "miou", stat: str = "best") -> list[dict[str, Any]]:
    """One dict per (group, config_label): model, mean, std, n and the model facts."""
    best_col, last_col, _ = METRICS[metric]
    col = best_col if stat == "best" else last_col
    points = []
    for (group, label), sub in df.groupby(["group", "config_label"], sort=True):
        rep = sub.sort_values("run_id", kind="mergesort").iloc[0].to_dict()
        s = Summary.of(sub[col].tolist())
        if s.mean is None:
            continue
        points.append({"group": group, "config_label": label, "model": rep["model"],
                       "mean": s.mean, "std": s.std or 0.0, "n": s.n,
                       "model_gflops": fact(rep, "model_gflops"),
                       "model_params": fact(rep, "model_params")})
    return points


def _plot_one(points, literature, *, fact_col, lit_col, xlabel, scale, ylabel, out_base: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "regseg-report"  # stable SVG ids
    pts = [p for p in points if p[fact_col] is not None]
    xs = [p[fact_col] * scale for p in pts]
    ys = [p["mean"] for p in pts]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    if pts:
        ax.errorbar(xs, ys, yerr=[p["std"] for p in pts], fmt="o", color="tab:blue",
                    ecolor="tab:blue", capsize=3, label="this project (val, mean ± std)")
        front = pareto_front(list(zip(xs, ys)))
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="tab:red",
                linewidth=1.2, label="Pareto front")
        for i in front:
            ax.annotate(pts[i]["model"], (xs[i], ys[i]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    lit = [r for r in literature if r.get(lit_col) is not None and r.get("test_mIoU") is not None]
    if lit:
        ax.scatter([r[lit_col] for r in lit], [r["test_mIoU"] for r in lit], marker="*", s=120,
                   color="tab:orange", edgecolors="black", linewidths=0.5, zorder=3,
                   label="published (Cityscapes test)")
        for r in lit:
            ax.annotate(r["model"], (r[lit_col], r["test_mIoU"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color="tab:brown")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
    fig.savefig(paths[0], metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def render_plots(df, out_dir: str | Path, *, metric: str = "miou", stat: str = "best",
                 literature_path: str | Path = LITERATURE) -> list[Path]:
    """Write both plots (PNG + SVG) into ``out_dir``; returns the four paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    points = configuration_points(df, metric=metric, stat=stat)
    literature = read_literature(literature_path)
    ylabel = f"{METRICS[metric][2]} (%, {stat} epoch)"
    paths: list[Path] = []
    for stem, fact_col, lit_col, xlabel, scale in AXES:
        paths += _plot_one(points, literature, fact_col=fact_col, lit_col=lit_col, xlabel=xlabel,
                           scale=scale, ylabel=ylabel, out_base=out / stem)
    return paths
