"""The worker side of the queue: claim, heartbeat, the job's own reports, the attempt's end, reap.

Every state change is one compare-and-set UPDATE whose WHERE clause names the state (and, for a
running job, the worker) it expects; timestamps come from the database clock. ``attempts``
counts the job's own failed attempts (non-zero exit, death by signal); ``lost_attempts`` counts
attempts lost with their worker (lease expired), against their own larger limit; an interrupted
job (exit 75 after a SIGTERM) is requeued without counting either. Each claim opens a
``job_attempts`` row (host, slot, SLURM job id; the job adds its start epoch and checkpoint
source) that the attempt's end closes with its outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import and_, case, func, select, update

from orchestrator.errors import QueueError
from orchestrator.queue.project_paths import resolved_path, stored_path
from orchestrator.queue.schema import Job, JobAttempt, Sweep, db_now, now_plus
from orchestrator.queue.states import (
    CHECKPOINT_SOURCES,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
)
from orchestrator.queue.store import Store


@dataclass(frozen=True)
class ClaimedJob:
    """A job handed to one worker slot (also the tracker's JobInfo)."""

    id: int
    sweep_id: int
    spec_name: str
    group: str
    run_hash: str
    label: str
    seed: int
    config: dict
    tags: dict
    attempt: int  # 1-based number of this attempt (own failures, losses and stops included)
    max_attempts: int
    mlflow_run_id: str | None
    project_dir: str | None
    attempt_id: int | None = None  # the job_attempts row of this attempt
    spec_hash: str | None = None  # sha256 of the spec file and its extends chain


# ----------------------------------------------------------------------------- worker side
def claim(store: Store, worker_id: str, *, lease_seconds: float, host: str = "",
          slot: str = "", slurm_job_id: str | None = None) -> ClaimedJob | None:
    """Atomically move the best queued job to running for ``worker_id``; None when none is queued.

    One UPDATE ... WHERE id = (SELECT ... LIMIT 1 [FOR UPDATE SKIP LOCKED]) AND state='queued',
    plus the attempt's ``job_attempts`` row, in one transaction.
    """
    pick = (select(Job.id).where(Job.state == QUEUED)
            .order_by(Job.priority.desc(), Job.id).limit(1)
            .with_for_update(skip_locked=True).scalar_subquery())
    stmt = (update(Job).where(Job.id == pick, Job.state == QUEUED)
            .values(state=RUNNING, worker_id=worker_id, lease_expires_at=now_plus(lease_seconds),
                    started_at=func.coalesce(Job.started_at, db_now()), updated_at=db_now(),
                    finished_at=None)
            .returning(Job.id)
            .execution_options(synchronize_session=False))
    with store.session_scope() as session:
        job_id = session.execute(stmt).scalar_one_or_none()
        if job_id is None:
            return None
        job, project_dir, spec_hash = session.execute(
            select(Job, Sweep.project_dir, Sweep.spec_hash).join(Sweep, Sweep.id == Job.sweep_id)
            .where(Job.id == job_id)).one()
        attempt = JobAttempt(job_id=job_id, worker_id=worker_id, host=host, slot=slot,
                             slurm_job_id=slurm_job_id)
        session.add(attempt)
        session.flush()
        number = session.execute(select(func.count()).select_from(JobAttempt)
                                 .where(JobAttempt.job_id == job_id)).scalar_one()
        return ClaimedJob(id=job.id, sweep_id=job.sweep_id, spec_name=job.spec_name,
                          group=job.group, run_hash=job.run_hash, label=job.label, seed=job.seed,
                          config=json.loads(job.config), tags=json.loads(job.tags),
                          attempt=int(number), max_attempts=job.max_attempts,
                          mlflow_run_id=job.mlflow_run_id,
                          project_dir=resolved_path(store.url, project_dir),
                          attempt_id=attempt.id, spec_hash=spec_hash)


def _cas(store: Store, job_id: int, worker_id: str, values: dict, *,
         outcome: str | None = None) -> str | None:
    """UPDATE the running job held by ``worker_id``; return its new state, None if not held.

    With ``outcome`` the attempt ends: its open ``job_attempts`` row is closed in the same
    transaction.
    """
    stmt = (update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.state == RUNNING)
            .values(updated_at=db_now(), **values).returning(Job.state)
            .execution_options(synchronize_session=False))
    with store.session_scope() as session:
        state = session.execute(stmt).scalar_one_or_none()
        if state is not None and outcome is not None:
            close_attempts(session, Job.id == job_id, outcome, worker_id=worker_id)
        return state


def close_attempts(session: Any, which: Any, outcome: Any, *, worker_id: str | None = None) -> None:
    where = [JobAttempt.ended_at.is_(None), JobAttempt.job_id.in_(select(Job.id).where(which))]
    if worker_id is not None:
        where.append(JobAttempt.worker_id == worker_id)
    session.execute(update(JobAttempt).where(*where).values(outcome=outcome, ended_at=db_now())
                    .execution_options(synchronize_session=False))


def heartbeat(store: Store, job_id: int, worker_id: str, *, lease_seconds: float) -> bool:
    """Renew the lease; False when the job is no longer this worker's (reaped or cancelled)."""
    return _cas(store, job_id, worker_id, {"lease_expires_at": now_plus(lease_seconds)}) is not None


def record(store: Store, job_id: int, worker_id: str, **values: Any) -> bool:
    """Store ``job_dir`` / ``mlflow_run_id`` on a job this worker holds."""
    allowed = {"job_dir", "mlflow_run_id"}
    if not set(values) <= allowed:
        raise QueueError(f"record: expected keys among {sorted(allowed)}, got {sorted(values)}")
    if values.get("job_dir") is not None:
        values = {**values, "job_dir": stored_path(store.url, values["job_dir"])}
    return _cas(store, job_id, worker_id, values) is not None


# ---------------------------------------------------------------------------- the job's own reports
def record_start(store: Store, job_id: int, worker_id: str, *, start_epoch: int | None = None,
                 checkpoint_source: str | None = None) -> bool:
    """Where the running attempt starts: the worker records where the checkpoint came from
    (local, tracking, none) before launch, the job its start epoch once it has loaded it.
    False when the job's attempt is no longer open for ``worker_id``."""
    if checkpoint_source is not None and checkpoint_source not in CHECKPOINT_SOURCES:
        raise QueueError(f"checkpoint_source: expected one of {', '.join(CHECKPOINT_SOURCES)}, "
                         f"got {checkpoint_source!r}")
    values = {"start_epoch": start_epoch, "checkpoint_source": checkpoint_source}
    values = {k: v for k, v in values.items() if v is not None}
    with store.session_scope() as session:
        stmt = (update(JobAttempt)
                .where(JobAttempt.job_id == job_id, JobAttempt.worker_id == worker_id,
                       JobAttempt.ended_at.is_(None))
                .values(**values)
                .execution_options(synchronize_session=False))
        return session.execute(stmt).rowcount > 0


def record_result(store: Store, job_id: int, worker_id: str, *, best_miou: float | None = None,
                  best_miou_reduced: float | None = None, best_epoch: int | None = None,
                  error: str | None = None, pruned_epoch: int | None = None) -> bool:
    """The job's outcome, reported by the job itself before it exits: best metrics and epoch, or
    the error that ended it, or the epoch at which its trial was pruned. The worker then moves
    the job to its state from the exit status (orchestrator/workers/outcomes.py)."""
    values: dict[str, Any] = {"best_miou": best_miou, "best_miou_reduced": best_miou_reduced,
                              "best_epoch": best_epoch, "error": error,
                              "pruned_epoch": pruned_epoch}
    values = {k: v for k, v in values.items() if v is not None}
    return bool(values) and _cas(store, job_id, worker_id, values) is not None


# ----------------------------------------------------------------------------- the attempt's end
def succeed(store: Store, job_id: int, worker_id: str) -> str | None:
    return _cas(store, job_id, worker_id, {"state": SUCCEEDED, "finished_at": db_now(),
                                           "lease_expires_at": None, "exit_reason": None},
                outcome=SUCCEEDED)


def requeue_interrupted(store: Store, job_id: int, worker_id: str, reason: str) -> str | None:
    """Back to queued without counting an attempt (the job checkpointed and exited 75)."""
    return _cas(store, job_id, worker_id, {"state": QUEUED, "worker_id": None,
                                           "lease_expires_at": None, "exit_reason": reason},
                outcome="interrupted")


def _failure_values(reason: Any, *, lost: bool) -> dict:
    count, limit = ((Job.lost_attempts, Job.max_lost_attempts) if lost
                    else (Job.attempts, Job.max_attempts))
    exhausted = count + 1 >= limit
    return {("lost_attempts" if lost else "attempts"): count + 1,
            "state": case((exhausted, FAILED), else_=QUEUED),
            "finished_at": case((exhausted, db_now()), else_=None),
            "worker_id": None, "lease_expires_at": None, "exit_reason": reason}


def fail(store: Store, job_id: int, worker_id: str, reason: str) -> str | None:
    """A failed attempt: requeued while attempts < max_attempts, else failed. Returns the state."""
    return _cas(store, job_id, worker_id, _failure_values(reason, lost=False), outcome="failed")


def reap(store: Store) -> list[tuple[int, str]]:
    """Requeue every running job whose lease has expired (its worker is gone); such a loss counts
    against ``max_lost_attempts``, not the job's own budget."""
    reason = "lease expired (worker " + func.coalesce(Job.worker_id, "?") + ")"
    expired = and_(Job.state == RUNNING, Job.lease_expires_at < db_now())
    stmt = (update(Job).where(expired)
            .values(updated_at=db_now(), **_failure_values(reason, lost=True))
            .returning(Job.id, Job.state).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        reaped = [(i, s) for i, s in session.execute(stmt)]
        if reaped:
            close_attempts(session, Job.id.in_([i for i, _ in reaped]), "lost")
        return reaped


def attempts_of(store: Store, job_ids: Sequence[int]) -> dict[int, list[dict]]:
    """{job id: its attempts in order, each as a dict (host, slot, start epoch, checkpoint
    source, outcome, times)}."""
    columns = ("worker_id", "host", "slot", "slurm_job_id", "start_epoch", "checkpoint_source",
               "outcome", "started_at", "ended_at")
    out: dict[int, list[dict]] = {int(i): [] for i in job_ids}
    with store.session_scope() as session:
        stmt = (select(JobAttempt).where(JobAttempt.job_id.in_(list(job_ids)))
                .order_by(JobAttempt.id))
        for row in session.execute(stmt).scalars():
            out[row.job_id].append({c: getattr(row, c) for c in columns})
    return out
