"""`regseg report --study NAME`: an Optuna study's report from its storage alone.

Writes into one directory: ``history.png`` (optimisation history), ``importances.png``
(parameter importances, fANOVA), ``parallel_coordinate.png`` and ``study.md`` (trial counts by
state and the best trials with their MLflow run ids, which the search driver keeps as trial
user attributes). Reads the Optuna RDB storage only; never the queue.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.errors import ReportError

PLOTS = {
    "history.png": "plot_optimization_history",
    "importances.png": "plot_param_importances",
    "parallel_coordinate.png": "plot_parallel_coordinate",
}
BEST_ROWS = 10


@dataclass
class StudyReport:
    markdown: str
    plot_paths: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def load(study_name: str, storage: str) -> Any:
    import optuna

    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise ReportError(f"--study: no study {study_name!r} in {storage}; expected one of "
                          f"{', '.join(names) or '(none)'}") from None


def best_rows(study: Any, *, limit: int = BEST_ROWS) -> list[dict]:
    """The completed trials, best first, then the pruned ones by their last reported value."""
    from optuna.trial import TrialState

    maximize = study.direction.name == "MAXIMIZE"
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        value = t.value
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        pruned = t.state == TrialState.PRUNED
        rows.append({"trial": t.number, "state": t.state.name, "value": value,
                     "pruned_epoch": max(t.intermediate_values) if pruned and
                     t.intermediate_values else None,
                     "job": t.user_attrs.get("job_id"),
                     "mlflow_run_id": t.user_attrs.get("mlflow_run_id"), **t.params})
    sign = -1.0 if maximize else 1.0
    rows.sort(key=lambda r: (r["state"] != "COMPLETE", sign * (r["value"] or 0.0), r["trial"]))
    return rows[:limit]


def _counts(study: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def _plot(study: Any, function: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ax = getattr(ovm, function)(study)
        except (ValueError, RuntimeError, ZeroDivisionError):  # too few trials for this plot
            return False
    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    fig.set_size_inches(8, 5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def build_study_report(study_name: str, storage: str, out_dir: Path) -> StudyReport:
    from tabulate import tabulate

    study = load(study_name, storage)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [out_dir / name for name, fn in PLOTS.items() if _plot(study, fn, out_dir / name)]
    counts = _counts(study)
    rows = best_rows(study)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    lines = [f"# Study {study_name}", "",
             f"{sum(counts.values())} trials ({summary}); direction "
             f"{study.direction.name.lower()}.", ""]
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    lines += ["", "## Best trials", ""]
    lines.append(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".4g")
                 if rows else "No completed trials yet.")
    return StudyReport(markdown="\n".join(lines) + "\n", plot_paths=plots, counts=counts)
