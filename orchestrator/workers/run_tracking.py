"""The worker's side of a job's MLflow run: create or resume it before launch, with the latest
checkpoint put in place, and close it when the attempt ends (docs/CONTRACTS.md, "Who owns
what": the worker owns the run's lifecycle, the job only logs into it)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from orchestrator import queue
from orchestrator.queue.store import Store

log = logging.getLogger("orchestrator.workers")


def make_tracker(enabled: bool, tracking_uri: str | None) -> Any:
    if not enabled:
        return None
    from orchestrator.tracking import Tracker

    return Tracker(tracking_uri)


def start_tracking(store: Store, tracker: Any, job: queue.ClaimedJob, worker_id: str,
                   job_dir: Path) -> str | None | bool:
    """Create or resume the job's MLflow run and put its latest checkpoint in place (local,
    else from the run's artifacts); a run with history but no checkpoint anywhere is
    closed and replaced by a fresh one. Returns the run id (None without tracking) or False
    when the attempt was failed."""
    if tracker is None:
        source = "local" if has_local_checkpoint(job_dir) else "none"
        queue.record_start(store, job.id, worker_id, checkpoint_source=source)
        return None
    try:
        run_id = tracker.ensure_run(job)
        source = place_checkpoint(tracker, run_id, job_dir)
        if source == "none" and tracker.has_history(run_id):
            run_id = restart_run(tracker, job, run_id, job_dir, who=worker_id)
    except Exception as exc:
        if is_outage(exc):  # not the job's fault: back to the queue, no attempt counted
            queue.requeue_interrupted(store, job.id, worker_id,
                                      f"tracking store unavailable: {exc}"[:1000])
            raise TrackingUnavailable(str(exc)) from exc
        state = queue.fail(store, job.id, worker_id, f"tracking: {exc}"[:1000])
        log.error("worker %s: job %d: tracking failed (%s) -> %s", worker_id, job.id, exc,
                  state)
        return False
    queue.record(store, job.id, worker_id, mlflow_run_id=run_id)
    queue.record_start(store, job.id, worker_id, checkpoint_source=source)
    return run_id


class TrackingUnavailable(Exception):
    """The tracking store could not be reached to set up a job's run (the job went back to the
    queue uncounted; the slot waits before it claims again)."""


def is_outage(exc: BaseException) -> bool:
    """A TrackingError whose cause is not one MLflow calls permanent (a bad value, a missing
    run): the store was unreachable or failing, which no job can be blamed for."""
    from orchestrator.errors import TrackingError
    from orchestrator.tracking.buffer import PERMANENT_ERRORS, error_code

    if not isinstance(exc, TrackingError):
        return False
    cause = exc.__cause__
    return cause is None or error_code(cause) not in PERMANENT_ERRORS


def place_checkpoint(tracker: Any, run_id: str, job_dir: Path) -> str:
    if has_local_checkpoint(job_dir):
        return "local"
    if tracker.fetch_checkpoint(run_id, job_dir / "checkpoints"):
        note(job_dir, f"checkpoint fetched from the MLflow run {run_id}")
        return "tracking"
    return "none"


def restart_run(tracker: Any, job: queue.ClaimedJob, old_run_id: str, job_dir: Path, *,
                who: str) -> str:
    reason = ("no checkpoint found locally or in the tracking store: this attempt starts "
              "over in a new MLflow run")
    run_id = tracker.restart_run(job, old_run_id, reason)
    note(job_dir, f"{reason} ({run_id}; the earlier run {old_run_id} is closed)")
    log.warning("worker %s: job %d: %s", who, job.id, reason)
    return run_id


def finish_tracking(tracker: Any, run_id: str | None, status: str | None, error: str | None,
                    job_dir: Path, *, who: str) -> None:
    if not run_id or status is None or tracker is None:
        return
    try:
        tracker.finish_run(run_id, status, error, out_dir=job_dir)
    except Exception as exc:  # the queue state is what matters; the run can be fixed later
        log.error("worker %s: closing MLflow run %s failed: %s", who, run_id, exc)


def has_local_checkpoint(job_dir: Path) -> bool:
    return any((job_dir / "checkpoints" / name).exists() for name in ("last.pt", "last.prev.pt"))


def note(job_dir: Path, message: str) -> None:
    with open(job_dir / "job.log", "a", encoding="utf-8") as fh:
        fh.write(f"== {message}\n")
