"""mIoU vs GFLOPs and mIoU vs params plots (matplotlib, Agg), PNG and SVG.

One point per configuration (group, config label) at the mean of the chosen statistic with a
std error bar, every point labelled without overlaps (reports.labels); the Pareto front of this
project's points (reports.pareto) as a step line. With ``literature=True`` published points
from ``literature.csv`` are added, marked by split (val / test) and labelled with their source.
The axes always fit this project's points: a published point far from the runs (cost beyond a
factor of 2 of theirs, or mIoU more than a few points away: :func:`split_literature`) is left
out of the main axes and shown, with everything else, in a small overview panel beside it,
with a note saying so. Files: ``miou_vs_gflops.{png,svg}``
and ``miou_vs_params.{png,svg}``; per-epoch curves are reports.curves.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from reports.labels import place_labels
from reports.pareto import pareto_front
from reports.shapes import fact
from reports.stats import Summary
from reports.tables import METRICS

LITERATURE = Path(__file__).with_name("literature.csv")
AXES = (  # file stem, fact column, literature column, x label, scale to the axis unit
    ("miou_vs_gflops", "model_gflops", "gflops", "GFLOPs (1x3x1024x2048)", 1.0),
    ("miou_vs_params", "model_params", "params_m", "parameters (M)", 1e-6),
)
SPLIT_MARKERS = {"val": "D", "test": "*"}
MIN_SPAN = {"x": 1.0, "y": 1.0}  # smallest axis span (axis units) around the runs
Y_REACH = 3.0  # mIoU points beyond the runs' range a published point may lie on the main axes


def read_literature(path: str | Path = LITERATURE) -> list[dict[str, Any]]:
    """Rows of the published-points file; numbers as floats (None when blank)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("mIoU", "gflops", "params_m", "fps"):
            row[key] = float(row[key]) if row.get(key) else None
    return rows


def configuration_points(df, *, metric: str = "miou", stat: str = "best") -> list[dict[str, Any]]:
    """One dict per (group, config_label): model, label, mean, std, n and the model facts."""
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
    return _name_points(points)


def _name_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``label``: the model name, with the group when two points share it, then a number."""
    count: dict[str, int] = {}
    for p in points:
        count[p["model"]] = count.get(p["model"], 0) + 1
    seen: dict[str, int] = {}
    for p in points:
        name = p["model"] if count[p["model"]] == 1 else f"{p['model']} [{p['group']}]"
        seen[name] = seen.get(name, 0) + 1
        p["label"] = name if seen[name] == 1 else f"{name} #{seen[name]}"
    return points


def literature_label(row: dict[str, Any]) -> str:
    return f"{row['model']} ({row['split']}; {row['source'].split(';')[0].strip()})"


def axis_window(values: list[float], min_span: float) -> tuple[float, float]:
    """The runs' range padded by 10% of its span (at least ``min_span`` wide)."""
    lo, hi = min(values), max(values)
    if hi - lo < min_span:
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def split_literature(lit, xs, ys, lit_col) -> tuple[list, list]:
    """(published points the main axes show, the others). A published point is shown when its
    cost is within a factor of 2 of the runs' cost range and its mIoU within Y_REACH points
    (or the runs' own mIoU span, if larger) of the runs' mIoU range, so the runs keep most of
    the axes. Without runs every published point is shown."""
    if not xs:
        return list(lit), []
    reach = max(Y_REACH, max(ys) - min(ys))
    inside = [r for r in lit if min(xs) / 2 <= r[lit_col] <= max(xs) * 2
              and min(ys) - reach <= r["mIoU"] <= max(ys) + reach]
    return inside, [r for r in lit if r not in inside]


def _limits(ax, xs: list[float], ys: list[float]) -> None:
    ax.set_xlim(*axis_window(xs, MIN_SPAN["x"]))
    ax.set_ylim(*axis_window(ys, MIN_SPAN["y"]))
    ax.set_autoscale_on(False)


def _draw_literature(ax, rows, lit_col, *, size: float = 80) -> None:
    for split, marker in SPLIT_MARKERS.items():
        sel = [r for r in rows if r["split"] == split]
        if sel:
            ax.scatter([r[lit_col] for r in sel], [r["mIoU"] for r in sel], marker=marker, s=size,
                       color="tab:orange" if split == "test" else "tab:green",
                       edgecolors="black", linewidths=0.5, zorder=3,
                       label=f"published, Cityscapes {split}")


def _overview(ax, pts_xy, rows, lit_col, xlabel) -> None:
    if pts_xy:
        ax.scatter(*zip(*pts_xy), s=12, color="tab:blue", label="this project")
    _draw_literature(ax, rows, lit_col, size=30)
    ax.set_title("all points (overview)", fontsize=8)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(True, alpha=0.3)


def cost_figure(points, literature, *, fact_col, lit_col, xlabel, ylabel, scale=1.0):
    """The figure for one cost axis (not saved); labels carry gid ``point-label``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [p for p in points if p[fact_col] is not None]
    xs, ys = [p[fact_col] * scale for p in pts], [p["mean"] for p in pts]
    lit = [r for r in literature if r.get(lit_col) is not None and r.get("mIoU") is not None]
    inside, outside = split_literature(lit, xs, ys, lit_col)
    if outside:
        fig, (ax, side) = plt.subplots(1, 2, figsize=(9.5, 5), dpi=100,
                                       gridspec_kw={"width_ratios": [3, 1]})
        _overview(side, list(zip(xs, ys)), lit, lit_col, xlabel)
    else:
        fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    if pts:
        ax.errorbar(xs, ys, yerr=[p["std"] for p in pts], fmt="o", color="tab:blue",
                    ecolor="tab:blue", capsize=3, label="this project (val, mean ± std)")
        front = pareto_front(list(zip(xs, ys)))
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="tab:red",
                linewidth=1.2, label="Pareto front (this project)")
    _draw_literature(ax, inside, lit_col)
    all_x = xs + [r[lit_col] for r in inside]
    all_y = ys + [r["mIoU"] for r in inside]
    if all_x:
        _limits(ax, all_x, all_y)
    if outside:
        ax.set_title(f"{len(outside)} published point(s) outside the runs' range: see the "
                     "overview", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    legend = ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.canvas.draw()
    reserved = [legend.get_window_extent(fig.canvas.get_renderer())]
    anchors = list(zip(xs, ys)) + [(r[lit_col], r["mIoU"]) for r in inside]
    texts = [p["label"] for p in pts] + [literature_label(r) for r in inside]
    place_labels(ax, anchors, texts, reserved=reserved)
    return fig


def save_png(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def save_figure(fig, out_base: Path) -> list[Path]:
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "regseg-report"  # stable SVG ids
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".svg")]
    fig.savefig(paths[0], metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


def render_plots(df, out_dir: str | Path, *, metric: str = "miou", stat: str = "best",
                 literature: bool = False, literature_path: str | Path = LITERATURE) -> list[Path]:
    """Write both cost plots (PNG + SVG) into ``out_dir``; returns the four paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    points = configuration_points(df, metric=metric, stat=stat)
    published = read_literature(literature_path) if literature else []
    ylabel = f"{METRICS[metric][2]} (%, {stat} epoch)"
    paths: list[Path] = []
    for stem, fact_col, lit_col, xlabel, scale in AXES:
        fig = cost_figure(points, published, fact_col=fact_col, lit_col=lit_col, xlabel=xlabel,
                          ylabel=ylabel, scale=scale)
        paths += save_figure(fig, out / stem)
    return paths
