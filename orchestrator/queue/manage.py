"""Steering and reading the queue: cancel, retry, release, listings and counts."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, not_, select, update

from orchestrator.errors import QueueError
from orchestrator.queue.lease import close_attempts
from orchestrator.queue.project_paths import resolved_path
from orchestrator.queue.schema import Job, Sweep, db_now
from orchestrator.queue.states import JOB_STATES, PENDING_STATES
from orchestrator.queue.store import Store


# ----------------------------------------------------------------------------- management
def cancel(store: Store, *, job_ids: Iterable[int] = (), sweep_id: int | None = None) -> list[int]:
    """Cancel queued or running jobs (a running job's worker stops it at its next heartbeat)."""
    where = _selection(job_ids, sweep_id)
    stmt = (update(Job).where(where, Job.state.in_(PENDING_STATES))
            .values(state="cancelled", finished_at=db_now(), updated_at=db_now(),
                    exit_reason="cancelled")
            .returning(Job.id).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        _require_existing(session, job_ids, sweep_id)
        cancelled = sorted(session.execute(stmt).scalars())
        if cancelled:
            close_attempts(session, Job.id.in_(cancelled), "cancelled")
        return cancelled


def retry(store: Store, *, job_ids: Iterable[int] = (), failed: bool = False) -> list[int]:
    """Requeue failed (or cancelled, when named) jobs with a fresh attempt budget."""
    job_ids = list(job_ids)
    if not job_ids and not failed:
        raise QueueError("retry: expected job ids or --failed, got neither")
    states = ("failed", "cancelled") if job_ids else ("failed",)
    where = Job.id.in_(job_ids) if job_ids else Job.state == "failed"
    # A cancelled running job stays held by its worker (worker_id + lease) until that worker has
    # stopped it (release) or the lease has run out; requeueing it earlier could let a second
    # worker run it while the first is still stopping it.
    held = and_(Job.state == "cancelled", Job.worker_id.is_not(None),
                Job.lease_expires_at.is_not(None), Job.lease_expires_at >= db_now())
    stmt = (update(Job).where(where, Job.state.in_(states), not_(held))
            .values(state="queued", attempts=0, worker_id=None, lease_expires_at=None,
                    finished_at=None, updated_at=db_now())
            .returning(Job.id).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        _require_existing(session, job_ids, None)
        busy = session.execute(select(Job.id, Job.worker_id).where(where, held)).all()
        if busy and job_ids:
            raise QueueError("retry: " + ", ".join(f"job {i} is still being stopped by worker {w}"
                                                   for i, w in busy)
                             + "; retry once it has stopped (at most one lease)")
        return sorted(session.execute(stmt).scalars())


def release(store: Store, job_id: int, worker_id: str) -> bool:
    """The worker has stopped its cancelled job: drop its hold so `retry` may requeue it."""
    stmt = (update(Job).where(Job.id == job_id, Job.worker_id == worker_id,
                              Job.state == "cancelled")
            .values(worker_id=None, lease_expires_at=None, updated_at=db_now())
            .execution_options(synchronize_session=False))
    with store.session_scope() as session:
        return session.execute(stmt).rowcount == 1


def _selection(job_ids: Iterable[int], sweep_id: int | None) -> Any:
    job_ids = list(job_ids)
    if bool(job_ids) == (sweep_id is not None):
        raise QueueError("expected job ids or --sweep ID (exactly one of them)")
    return Job.id.in_(job_ids) if job_ids else Job.sweep_id == sweep_id


def _require_existing(session: Any, job_ids: Iterable[int], sweep_id: int | None) -> None:
    job_ids = set(job_ids)
    if job_ids:
        found = set(session.execute(select(Job.id).where(Job.id.in_(job_ids))).scalars())
        if job_ids - found:
            raise QueueError(f"unknown job id(s): {sorted(job_ids - found)}")
    if sweep_id is not None and session.get(Sweep, sweep_id) is None:
        raise QueueError(f"unknown sweep id: {sweep_id}")


STATUS_COLUMNS = ("id", "sweep_id", "spec_name", "label", "seed", "state", "attempts",
                  "lost_attempts", "worker_id", "exit_reason", "mlflow_run_id", "run_hash",
                  "priority", "max_attempts", "max_lost_attempts", "job_dir", "created_at",
                  "started_at", "finished_at", "updated_at", "lease_expires_at", "group",
                  "repetition", "best_miou", "best_miou_reduced", "best_epoch", "error",
                  "pruned_epoch")


def jobs(store: Store, *, sweep_id: int | None = None, states: Sequence[str] = ()) -> list[dict]:
    """Every job (optionally of one sweep / in some states) as a plain dict, in id order."""
    unknown = [s for s in states if s not in JOB_STATES]
    if unknown:
        raise QueueError(f"state: expected one of {', '.join(JOB_STATES)}, got "
                         f"{', '.join(map(repr, unknown))}")
    stmt = select(Job).order_by(Job.id)
    if sweep_id is not None:
        stmt = stmt.where(Job.sweep_id == sweep_id)
    if states:
        stmt = stmt.where(Job.state.in_(tuple(states)))
    with store.session_scope() as session:
        rows = [{c: getattr(j, c) for c in STATUS_COLUMNS} for j in session.execute(stmt).scalars()]
    for row in rows:  # absolute, as the queue was given it (stored relative to a project's queue)
        row["job_dir"] = resolved_path(store.url, row["job_dir"])
    return rows


def counts(store: Store, *, sweep_id: int | None = None) -> dict[str, int]:
    """Number of jobs per state (every state present, zeros included)."""
    stmt = select(Job.state, func.count()).group_by(Job.state)
    if sweep_id is not None:
        stmt = stmt.where(Job.sweep_id == sweep_id)
    with store.session_scope() as session:
        found = dict(session.execute(stmt).all())
    return {s: int(found.get(s, 0)) for s in JOB_STATES}


def has_pending(store: Store) -> bool:
    """True while any job is queued or running (workers with --exit-when-empty wait for it)."""
    stmt = select(Job.id).where(Job.state.in_(PENDING_STATES)).limit(1)
    with store.session_scope() as session:
        return session.execute(stmt).first() is not None


def job_states(store: Store, job_ids: Sequence[int]) -> dict[int, str]:
    """{job id: state} for the given ids (unknown ids are absent)."""
    with store.session_scope() as session:
        stmt = select(Job.id, Job.state).where(Job.id.in_(list(job_ids)))
        return dict(session.execute(stmt).all())


def job_error(store: Store, job_id: int) -> str | None:
    """The error the job itself last recorded (``record_result(error=...)``), None if none."""
    with store.session_scope() as session:
        return session.execute(select(Job.error).where(Job.id == job_id)).scalar_one_or_none()
