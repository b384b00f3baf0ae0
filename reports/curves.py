"""Per-epoch curves: mIoU^R (mIoU where a run has no mIoU^R) vs epoch, one figure per group.

Each configuration (config label) of a group is one mean line over its runs with a min-max
band over seeds; an epoch counts the runs that evaluated it. Histories come from MLflow
(reports.mlflow_source.load_histories), step = epoch. File: ``curves_<group>.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from reports.mlflow_source import member_groups

History = Sequence[tuple[int, float]]


def band(histories: Sequence[History]) -> tuple[list[int], list[float], list[float], list[float]]:
    """(epochs, mean, min, max) over the runs' histories, at every epoch any run has."""
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for step, value in history:
            by_epoch.setdefault(int(step), []).append(float(value))
    epochs = sorted(by_epoch)
    return (epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs],
            [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs])


def file_name(group: str) -> str:
    return "curves_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", group) + ".png"


def _configurations(records: Sequence[Mapping[str, Any]], group: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rec in records:
        if group in member_groups(rec):
            out.setdefault(str(rec["config_label"]), []).append(str(rec["run_id"]))
    return dict(sorted(out.items()))


def _legend_names(configs: dict[str, list[str]], models: Mapping[str, str]) -> dict[str, str]:
    names = {label: models[ids[0]] for label, ids in configs.items()}
    clash = len(set(names.values())) < len(names)
    return {label: label if clash else name for label, name in names.items()}


def curves_figure(group: str, records, histories: Mapping[str, History], metric_label: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = _configurations(records, group)
    names = _legend_names(configs, {str(r["run_id"]): str(r["model"]) for r in records})
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for i, (label, run_ids) in enumerate(configs.items()):
        epochs, mean, low, high = band([histories.get(r, []) for r in run_ids])
        if not epochs:
            continue
        color = plt.get_cmap("tab10")(i % 10)
        ax.plot(epochs, mean, color=color, linewidth=1.2,
                label=f"{names[label][:60]} (n={len(run_ids)})")
        ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric_label} (%)")
    ax.set_title(f"{group}: mean over seeds, band = min-max", fontsize=9)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def render_curves(df, histories: Mapping[str, Mapping[str, History]], out_dir: str | Path
                  ) -> list[Path]:
    """``histories``: ``{"mIoU_reduced": {run_id: history}, "mIoU": {...}}``. A group is drawn
    in mIoU^R when any of its runs has it, else in mIoU. Returns the written paths."""
    from reports.plots import save_png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = df.to_dict("records")
    groups = sorted({g for rec in records for g in member_groups(rec)})
    paths = []
    for group in groups:
        ids = [r for ids in _configurations(records, group).values() for r in ids]
        reduced = histories.get("mIoU_reduced", {})
        key, label = (("mIoU_reduced", "mIoU^R") if any(reduced.get(r) for r in ids)
                      else ("mIoU", "mIoU"))
        fig = curves_figure(group, records, histories.get(key, {}), label)
        paths.append(save_png(fig, out / file_name(group)))
    return paths
