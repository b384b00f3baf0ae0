"""What the worker does once a job attempt has ended, beyond the plain state transitions of
``supervision``: settle a pruned job (queue state, MLflow tag and status), and let the
adaptive-seeds policy look at the job's arm (orchestrator/arms_policy.py).

Both are called from ``Worker._record_outcome``; neither may break the worker: errors are
logged, and the queue state of the job is already recorded when ``review_arms`` runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("orchestrator.workers")


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
