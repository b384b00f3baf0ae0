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

from sqlalchemy import and_, func, select, update

from orchestrator.errors import QueueError
from orchestrator.queue import transitions as T
from orchestrator.queue.project_paths import resolved_path, stored_path
from orchestrator.queue.schema import Job, JobAttempt, db_now
from orchestrator.queue.states import (
    CHECKPOINT_SOURCES,
    FAILED,
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

    The head of the queue (priority, then FIFO) is claimed with a compare-and-set on
    state='queued' (on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so concurrent claims take
    different jobs without waiting), and the attempt's ``job_attempts`` row is opened in the same
    transaction: one statement on PostgreSQL, three in one transaction on SQLite
    (orchestrator/queue/transitions.py).
    """
    params = T.param_values(worker=worker_id, lease_seconds=float(lease_seconds), host=host,
                            slot=slot, slurm_job_id=slurm_job_id)
    if store.dialect == "postgresql":
        with store.connection_scope(single_statement=True) as conn:
            row = conn.execute(T.claim_postgresql(), params).mappings().one_or_none()
        if row is None:
            return None
        number = 1 if row["first_claim"] else _attempt_number(store, row["id"], row["attempt_id"])
        return _claimed(store, row, attempt=number, attempt_id=row["attempt_id"])
    with store.connection_scope() as conn:
        job = conn.execute(T.claim_update(), params).mappings().one_or_none()
        if job is None:
            return None
        params.update(T.param_values(job=job["id"], sweep=job["sweep_id"]))
        context = conn.execute(T.claim_context(), params).mappings().one()
        attempt_id = conn.execute(T.open_attempt(), params).scalar_one()
    return _claimed(store, {**job, **context}, attempt=context["attempt"], attempt_id=attempt_id)


def _attempt_number(store: Store, job_id: int, attempt_id: int) -> int:
    """A job claimed before: its attempt rows up to this one, read after the claim committed
    (the claim's own statement sees the rows as of its start, and a job requeued while it ran
    may have gained a row since)."""
    with store.connection_scope(single_statement=True) as conn:
        return int(conn.execute(T.attempt_number(),
                                T.param_values(job=job_id, attempt=attempt_id)).scalar_one())


def _claimed(store: Store, row: Any, *, attempt: int, attempt_id: int) -> ClaimedJob:
    return ClaimedJob(id=row["id"], sweep_id=row["sweep_id"], spec_name=row["spec_name"],
                      group=row["group_name"], run_hash=row["run_hash"], label=row["label"],
                      seed=row["seed"], config=json.loads(row["config"]),
                      tags=json.loads(row["tags"]), attempt=int(attempt),
                      max_attempts=row["max_attempts"], mlflow_run_id=row["mlflow_run_id"],
                      project_dir=resolved_path(store.url, row["project_dir"]),
                      attempt_id=attempt_id, spec_hash=row["spec_hash"])


def _cas(store: Store, job_id: int, worker_id: str, values: dict, *,
         outcome: str | None = None) -> str | None:
    """UPDATE the running job held by ``worker_id``; return its new state, None if not held.

    With ``outcome`` the attempt ends: its open ``job_attempts`` row is closed in the same
    transaction.
    """
    if outcome is None:
        return _run_held(store, (T.held_job_update(values),), job_id, worker_id)
    return _run_held(store, T.end_statements(values, store.dialect), job_id, worker_id,
                     outcome=outcome)


def _run_held(store: Store, statements: Sequence[Any], job_id: int, worker_id: str,
              **params: Any) -> str | None:
    """Run a held job's statements (the first returns its new state; any others run only when it
    did) in one transaction; the new state, None when the job is not held by ``worker_id``."""
    values = T.param_values(job=job_id, worker=worker_id, **params)
    first, *rest = statements
    with store.connection_scope(single_statement=not rest) as conn:
        row = conn.execute(first, values).first()
        if row is None:
            return None
        for stmt in rest:
            conn.execute(stmt, values)
        return row.state


def close_attempts(session: Any, which: Any, outcome: Any, *, worker_id: str | None = None) -> None:
    where = [JobAttempt.ended_at.is_(None), JobAttempt.job_id.in_(select(Job.id).where(which))]
    if worker_id is not None:
        where.append(JobAttempt.worker_id == worker_id)
    session.execute(update(JobAttempt).where(*where).values(outcome=outcome, ended_at=db_now())
                    .execution_options(synchronize_session=False))


def heartbeat(store: Store, job_id: int, worker_id: str, *, lease_seconds: float) -> bool:
    """Renew the lease; False when the job is no longer this worker's (reaped or cancelled)."""
    return _run_held(store, (T.heartbeat(),), job_id, worker_id,
                     lease_seconds=float(lease_seconds)) is not None


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
    return _run_held(store, T.end_attempt(SUCCEEDED, store.dialect), job_id, worker_id,
                     outcome=SUCCEEDED)


def requeue_interrupted(store: Store, job_id: int, worker_id: str, reason: str) -> str | None:
    """Back to queued without counting an attempt (the job checkpointed and exited 75)."""
    return _run_held(store, T.end_attempt(T.INTERRUPTED, store.dialect), job_id, worker_id,
                     outcome=T.INTERRUPTED, reason=reason)


def fail(store: Store, job_id: int, worker_id: str, reason: str) -> str | None:
    """A failed attempt: requeued while attempts < max_attempts, else failed. Returns the state."""
    return _run_held(store, T.end_attempt(FAILED, store.dialect), job_id, worker_id,
                     outcome=FAILED, reason=reason)


def reap(store: Store) -> list[tuple[int, str]]:
    """Requeue every running job whose lease has expired (its worker is gone); such a loss counts
    against ``max_lost_attempts``, not the job's own budget."""
    reason = "lease expired (worker " + func.coalesce(Job.worker_id, "?") + ")"
    expired = and_(Job.state == RUNNING, Job.lease_expires_at < db_now())
    stmt = (update(Job).where(expired)
            .values(updated_at=db_now(), **T.failure_values(reason, lost=True))
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
