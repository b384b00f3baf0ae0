"""The arm controller of adaptive seeds: after a job ends, look at the arms of its sweep and stop
scheduling the remaining seeds of an arm that the sequential test has settled.

Called by the worker after recording each job's outcome (orchestrator/workers/after_job.py);
it reads outcomes from the queue rows only. An arm is a grid point of the sweep (its label);
its values are its succeeded seeds' ``metric`` (queue row), the baseline's likewise. The test
is in orchestrator/sequential.py. Every stop is recorded twice: in the queue (the look, and each
cancelled seed's ``exit_reason``) and, when the worker tracks to MLflow, as tags on the arm's
runs (``regseg.arm_stopped``, ``regseg.arm_saved_runs``, ``regseg.arm_saved_hours``), which is
what ``regseg report`` reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from orchestrator.queue.arms import arm_jobs, looks, record_look, seed_policy
from orchestrator.queue.states import QUEUED, SUCCEEDED
from orchestrator.sequential import STOP, alpha_for_look, decide
from orchestrator.specs.sections import OBJECTIVE_METRICS

log = logging.getLogger("orchestrator.arms")


@dataclass(frozen=True)
class ArmStop:
    label: str
    n_seeds: int
    cancelled: int
    saved_hours: float | None
    reason: str


def review_sweep(store: Any, sweep_id: int, *, tracking_uri: str | None = None) -> list[ArmStop]:
    """Make every look now due in the sweep; return the arms stopped by this call."""
    policy = seed_policy(store, sweep_id)
    if policy is None:
        return []
    jobs = arm_jobs(store, sweep_id)
    column = OBJECTIVE_METRICS[policy["metric"]]
    arms: dict[str, list[dict]] = {}
    for job in jobs:
        arms.setdefault(job["label"], []).append(job)
    baseline = _values(arms.get(policy["baseline"], []), column)
    made: dict[str, list[dict]] = {}
    for row in looks(store, sweep_id):
        made.setdefault(row["label"], []).append(row)
    stopped = []
    for label, members in arms.items():
        if label == policy["baseline"] or any(r["decision"] == STOP for r in made.get(label, [])):
            continue
        stop = _look_at(store, sweep_id, label, members, baseline, made.get(label, []), policy,
                        column)
        if stop is not None:
            stopped.append(stop)
            _tag_runs(tracking_uri, members, stop)
    return stopped


def _values(members: list[dict], column: str) -> list[float]:
    """The finished seeds' values, in seed order."""
    done = [j for j in members if j["state"] == SUCCEEDED and j[column] is not None]
    return [float(j[column]) for j in sorted(done, key=lambda j: j["seed"])]


def _look_at(store: Any, sweep_id: int, label: str, members: list[dict], baseline: list[float],
             made: list[dict], policy: dict, column: str) -> ArmStop | None:
    values = _values(members, column)
    n, n_min, n_max = len(values), policy["min"], policy["max"]
    previous = max((r["n_seeds"] for r in made), default=None)
    queued = sum(j["state"] == QUEUED for j in members)
    if n < n_min or n >= n_max or not queued or len(baseline) < 2:
        return None
    if previous is not None and n <= previous:
        return None
    level = alpha_for_look(n, previous, n_min=n_min, n_max=n_max, alpha=policy["alpha"])
    look = decide(values, baseline, level=level, margin=policy["margin"],
                  stop_when=policy["stop_when"])
    cancelled = record_look(store, sweep_id, label, look, n_seeds=n, n_baseline=len(baseline),
                            hours_per_run=_hours_per_run(members))
    log.info("adaptive seeds: sweep %d arm %s after %d seeds: %s (%s)", sweep_id, label, n,
             look.decision, look.reason)
    if cancelled is None or look.decision != STOP:
        return None
    hours = _hours_per_run(members)
    return ArmStop(label=label, n_seeds=n, cancelled=cancelled,
                   saved_hours=None if hours is None else hours * cancelled, reason=look.reason)


def _hours_per_run(members: list[dict]) -> float | None:
    """Mean device-hours of the arm's finished seeds (wall time x GPUs, at least one slot)."""
    spans = [((j["finished_at"] - j["started_at"]).total_seconds() / 3600.0) * max(j["gpus"], 1)
             for j in members if j["state"] == SUCCEEDED and j["started_at"] and j["finished_at"]]
    return sum(spans) / len(spans) if spans else None


def _tag_runs(tracking_uri: str | None, members: list[dict], stop: ArmStop) -> None:
    run_ids = [j["mlflow_run_id"] for j in members if j["mlflow_run_id"]]
    if not tracking_uri or not run_ids:
        return
    from orchestrator.tracking import tags as T
    from orchestrator.tracking.store import make_client

    client = make_client(tracking_uri)
    values = {T.ARM_STOPPED: f"after {stop.n_seeds} seeds: {stop.reason}"[:4000],
              T.ARM_SAVED_RUNS: str(stop.cancelled),
              T.ARM_SAVED_HOURS: "" if stop.saved_hours is None else f"{stop.saved_hours:.4f}"}
    for run_id in run_ids:
        try:
            for key, value in values.items():
                client.set_tag(run_id, key, value)
        except Exception as exc:  # the queue holds the decision; the tag is for the report
            log.error("adaptive seeds: tagging MLflow run %s failed: %s", run_id, exc)
