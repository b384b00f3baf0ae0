"""What the worker does once a job attempt has ended: move the job to the state its outcome
(orchestrator/workers/outcomes.py) calls for and close its MLflow run to match, retrying while
the database is briefly away; settle a pruned job (queue state, MLflow tag and status); and let
the adaptive-seeds policy look at the job's arm (orchestrator/arms_policy.py).

``review_arms`` may not break the worker: its errors are logged, and the queue state of the job
is already recorded when it runs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from orchestrator import queue
from orchestrator.workers.outcomes import Outcome, failure_reason
from orchestrator.workers.run_tracking import finish_tracking

log = logging.getLogger("orchestrator.workers")


def record_outcome(store: Any, tracker: Any, job: Any, worker_id: str, rc: int,
                   outcome: Outcome, *, run_id: str | None, job_dir: Path, who: str) -> str:
    """Move the attempt that exited ``rc`` to its state and close its MLflow run to match;
    returns what happened (the new state, ``lost (...)`` or ``lost`` when no longer held)."""
    def close(status: str | None, error: str | None = None) -> None:
        finish_tracking(tracker, run_id, status, error, job_dir, who=who)

    if outcome is Outcome.PRUNED:
        result = finish_pruned(store, tracker, job, worker_id, run_id, job_dir)
    elif outcome is Outcome.LOST:  # stopped: release a cancelled job's hold (see queue.retry)
        state = queue.job_states(store, [job.id]).get(job.id)
        queue.release(store, job.id, worker_id)
        result = f"lost ({state})"  # the run stays open when another attempt will resume it
        close({"cancelled": "KILLED", "failed": "FAILED"}.get(state))
    elif outcome is Outcome.SUCCEEDED:
        result = queue.succeed(store, job.id, worker_id) or "lost"
        close("FINISHED" if result == "succeeded" else None)
    elif outcome is Outcome.INTERRUPTED:
        reason = f"interrupted: requeued without penalty (exit {rc})"
        result = queue.requeue_interrupted(store, job.id, worker_id, reason) or "lost"
    else:
        reason = failure_reason(rc, queue.job_error(store, job.id))
        result = queue.fail(store, job.id, worker_id, reason) or "lost"
        close("FAILED" if result == "failed" else None, reason)
    log.info("worker %s: job %d exited with %s -> %s", worker_id, job.id, rc, result)
    return result


def with_retries(action: Callable[[], Any], what: str) -> None:
    """The job is done: try hard to record how it ended (1, 2, 4, 8 s apart), then raise."""
    for delay in (1, 2, 4, 8, 0):
        try:
            action()
            return
        except Exception as exc:
            if not delay:
                raise
            log.error("%s failed (%s); retrying in %ss", what, exc, delay)
            time.sleep(delay)


def finish_pruned(store: Any, tracker: Any, job: Any, worker_id: str, run_id: str | None,
                  job_dir: Path) -> str:
    """running -> pruned; the MLflow run is tagged ``regseg.pruned_epoch`` and closed KILLED
    (stopped on purpose, not finished). Returns the new state (``lost`` if not held)."""
    from orchestrator.queue.pruning import prune, pruned_epoch
    from orchestrator.tracking import tags as T

    state = prune(store, job.id, worker_id) or "lost"
    if state != "pruned" or not run_id or tracker is None:
        return state
    epoch = pruned_epoch(store, job.id)
    try:
        if epoch is not None:
            tracker.client.set_tag(run_id, T.PRUNED_EPOCH, str(epoch))
        tracker.finish_run(run_id, "KILLED", None, out_dir=job_dir)
    except Exception as exc:  # the queue state is what matters; the run can be fixed later
        log.error("worker: tagging pruned MLflow run %s failed: %s", run_id, exc)
    return state


def review_arms(store: Any, job: Any, tracker: Any) -> None:
    """Run the adaptive-seeds policy on the job's sweep (a no-op for plain seed lists)."""
    from orchestrator.arms_policy import review_sweep

    try:
        review_sweep(store, job.sweep_id, tracking_uri=getattr(tracker, "tracking_uri", None))
    except Exception:
        log.exception("worker: adaptive-seeds review of sweep %d failed", job.sweep_id)
