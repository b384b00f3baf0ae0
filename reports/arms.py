"""The report's "Adaptive seeds" section: arms whose remaining seeds the adaptive-seeds policy
cancelled, and the runs and device-hours that saved. Read from MLflow only: the arm controller
tags every run of a stopped arm (``regseg.arm_stopped``, ``regseg.arm_saved_runs``,
``regseg.arm_saved_hours``; orchestrator/tracking/tags.py)."""

from __future__ import annotations

from typing import Any, Sequence

import orchestrator.tracking.tags as T


def stopped_arms(client: Any, experiment_ids: Sequence[str]) -> list[dict]:
    """One row per stopped arm (experiment, config label): seeds run, saved runs and hours."""
    if not experiment_ids:
        return []
    from reports.mlflow_read import search_all

    flt = f"tags.`{T.ARM_STOPPED}` LIKE '%'"
    runs = [r for eid in experiment_ids for r in search_all(client, eid, flt)]  # every page
    arms: dict[tuple, dict] = {}
    for run in runs:
        tags = run.data.tags
        key = (tags.get(T.GROUP, run.info.experiment_id), tags.get(T.CONFIG_LABEL, "?"))
        row = arms.setdefault(key, {"group": key[0], "arm": key[1], "runs": 0,
                                    "saved_runs": int(tags.get(T.ARM_SAVED_RUNS) or 0),
                                    "saved_hours": _float(tags.get(T.ARM_SAVED_HOURS)),
                                    "why": tags.get(T.ARM_STOPPED, "")})
        row["runs"] += 1
    return sorted(arms.values(), key=lambda r: (r["group"], r["arm"]))


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def render_section(rows: list[dict]) -> str:
    """Markdown: a one-line total and one row per arm stopped early ('' when none)."""
    if not rows:
        return ""
    from tabulate import tabulate

    runs = sum(r["saved_runs"] for r in rows)
    hours = sum(r["saved_hours"] or 0.0 for r in rows)
    table = [{"group": r["group"], "arm (stopped early)": r["arm"], "seeds run": r["runs"],
              "seeds saved": r["saved_runs"],
              "GPU-hours saved": "?" if r["saved_hours"] is None else f"{r['saved_hours']:.3f}",
              "why": r["why"]} for r in rows]
    return ("\n## Adaptive seeds\n\n"
            f"{len(rows)} arm(s) stopped early: {runs} run(s) and {hours:.3f} GPU-hours saved "
            "(GPU-hours: the mean wall time of the arm's finished runs times their GPUs, at least "
            "one slot).\n\n" + tabulate(table, headers="keys", tablefmt="github") + "\n")


def section_for(tracking_uri: str | None, experiment_names: Sequence[str]) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    ids = []
    for name in dict.fromkeys(experiment_names):
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            ids.append(exp.experiment_id)
    return render_section(stopped_arms(client, ids))
