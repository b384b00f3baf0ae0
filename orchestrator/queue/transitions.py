"""The queue's hot-path statements (claim, heartbeat, the attempt's end), built once per process.

Each is a SQLAlchemy Core construct with bound parameters, so a call pays neither statement
construction nor the ORM, and its compiled form is reused from SQLAlchemy's cache. Parameter
names carry a ``p_`` prefix (SQLAlchemy reserves column names in a SET clause).

On PostgreSQL a claim is ONE statement: data-modifying CTEs pick the head of the queue with
``FOR UPDATE SKIP LOCKED``, move it to running, open its ``job_attempts`` row and return the job
with its sweep's columns; an attempt's end (the job's new state plus the attempt row's outcome)
is one statement too. Run in autocommit, each is one round trip. SQLite has no DML in CTEs: there
a claim is the UPDATE ... RETURNING, a read of the sweep's columns and the attempt count, and the
INSERT of the attempt row, in one ``BEGIN IMMEDIATE`` transaction (writers are serialised, so the
count read in it is exact).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Float, String, bindparam, case, func, insert, select, text, update

from orchestrator.queue.schema import Job, JobAttempt, Sweep, db_now, db_now_plus
from orchestrator.queue.states import FAILED, QUEUED, RUNNING, SUCCEEDED

#: The outcome of an attempt requeued without penalty (the job exited 75 after a SIGTERM).
INTERRUPTED = "interrupted"

#: The job columns a claim hands to the worker (orchestrator.queue.lease.ClaimedJob).
CLAIMED_COLUMNS = (Job.id, Job.sweep_id, Job.spec_name, Job.group, Job.run_hash, Job.label,
                   Job.seed, Job.config, Job.tags, Job.max_attempts, Job.mlflow_run_id)


def _param(name: str, type_: Any = None) -> Any:
    return bindparam(f"p_{name}", type_=type_)


def _claim_values() -> dict:
    return {"state": RUNNING, "worker_id": _param("worker", String()),
            "lease_expires_at": db_now_plus(_param("lease_seconds", Float())),
            "started_at": func.coalesce(Job.started_at, db_now()), "updated_at": db_now(),
            "finished_at": None}


def head_of_queue(dialect: str) -> Any:
    """The first queued job in claim order: priority first, then first in, first out, read from
    the partial index ix_jobs_queued. PostgreSQL's planner picks that index on its own; SQLite is
    told to use it (without table statistics its planner prefers ix_jobs_claim (state, ...) and
    sorts every queued job; SQLAlchemy renders no ``INDEXED BY`` hint, hence the text)."""
    if dialect == "sqlite":
        return text(f"SELECT id FROM jobs INDEXED BY ix_jobs_queued WHERE state = '{QUEUED}' "
                    "ORDER BY priority DESC, id LIMIT 1").columns(Job.id)
    return select(Job.id).where(Job.state == QUEUED).order_by(Job.priority.desc(), Job.id).limit(1)


# ----------------------------------------------------------------------------- claim
@cache
def claim_postgresql() -> Any:
    """One statement: lock the head of the queue (skipping rows other claims hold), claim it,
    open its attempt row, return the job, ``attempt_id``, the sweep's ``project_dir`` and
    ``spec_hash``, and ``first_claim`` (true when the job was never claimed before, so this is
    attempt 1; otherwise the caller counts the attempt rows)."""
    picked = (head_of_queue("postgresql").add_columns(Job.started_at.is_(None).label("first_claim"))
              .with_for_update(skip_locked=True).cte("picked"))
    claimed = (update(Job).where(Job.id == picked.c.id, Job.state == QUEUED)
               .values(**_claim_values())
               .returning(*CLAIMED_COLUMNS, picked.c.first_claim)
               .cte("claimed"))
    attempt = (insert(JobAttempt)
               .from_select(["job_id", "worker_id", "host", "slot", "slurm_job_id"],
                            select(claimed.c.id, _param("worker", String()),
                                   _param("host", String()), _param("slot", String()),
                                   _param("slurm_job_id", String())))
               .returning(JobAttempt.id, JobAttempt.job_id)
               .cte("attempt"))
    return (select(claimed, attempt.c.id.label("attempt_id"), Sweep.project_dir, Sweep.spec_hash)
            .join(attempt, attempt.c.job_id == claimed.c.id)
            .join(Sweep, Sweep.id == claimed.c.sweep_id))


@cache
def claim_update() -> Any:
    """SQLite, first of three statements: claim the head of the queue, return the job."""
    return (update(Job)
            .where(Job.id == head_of_queue("sqlite").scalar_subquery(), Job.state == QUEUED)
            .values(**_claim_values())
            .returning(*CLAIMED_COLUMNS))


@cache
def claim_context() -> Any:
    """SQLite, second statement: the claimed job's sweep columns and ``attempt``, the number the
    attempt about to be opened will have (the job's attempt rows so far + 1)."""
    count = (select(func.count()).select_from(JobAttempt)
             .where(JobAttempt.job_id == _param("job")).scalar_subquery())
    return (select(Sweep.project_dir, Sweep.spec_hash, (count + 1).label("attempt"))
            .where(Sweep.id == _param("sweep")))


@cache
def open_attempt() -> Any:
    """SQLite, third statement: the attempt row of a claimed job; returns its id."""
    return (insert(JobAttempt)
            .values(job_id=_param("job"), worker_id=_param("worker", String()),
                    host=_param("host", String()), slot=_param("slot", String()),
                    slurm_job_id=_param("slurm_job_id", String()))
            .returning(JobAttempt.id))


@cache
def attempt_number() -> Any:
    """The 1-based number of attempt ``p_attempt`` of job ``p_job``."""
    return (select(func.count()).select_from(JobAttempt)
            .where(JobAttempt.job_id == _param("job"), JobAttempt.id <= _param("attempt")))


# ----------------------------------------------------------------------------- running jobs
def held_job_update(values: dict) -> Any:
    """UPDATE the running job ``p_job`` held by ``p_worker`` (compare-and-set); returns its
    new state (no row: not held)."""
    return (update(Job)
            .where(Job.id == _param("job"), Job.worker_id == _param("worker", String()),
                   Job.state == RUNNING)
            .values(updated_at=db_now(), **values)
            .returning(Job.id, Job.state))


@cache
def heartbeat() -> Any:
    return held_job_update({"lease_expires_at": db_now_plus(_param("lease_seconds", Float()))})


def close_attempt(which_job: Any) -> Any:
    """Close the open attempt row(s) of ``p_worker`` on the job(s) ``which_job`` selects (a
    criterion on ``JobAttempt.job_id``) with outcome ``p_outcome``."""
    return (update(JobAttempt)
            .where(JobAttempt.ended_at.is_(None), JobAttempt.worker_id == _param("worker"),
                   which_job)
            .values(outcome=_param("outcome", String()), ended_at=db_now()))


def failure_values(reason: Any, *, lost: bool) -> dict:
    """SET values of a failed attempt: back to queued while the count stays under its limit,
    else failed. A lost worker counts against ``max_lost_attempts``, the job's own failures
    against ``max_attempts``."""
    count, limit = ((Job.lost_attempts, Job.max_lost_attempts) if lost
                    else (Job.attempts, Job.max_attempts))
    exhausted = count + 1 >= limit
    return {("lost_attempts" if lost else "attempts"): count + 1,
            "state": case((exhausted, FAILED), else_=QUEUED),
            "finished_at": case((exhausted, db_now()), else_=None),
            "worker_id": None, "lease_expires_at": None, "exit_reason": reason}


def _end_values(outcome: str) -> dict:
    reason = _param("reason", String())
    if outcome == SUCCEEDED:
        return {"state": SUCCEEDED, "finished_at": db_now(), "lease_expires_at": None,
                "exit_reason": None}
    if outcome == INTERRUPTED:
        return {"state": QUEUED, "worker_id": None, "lease_expires_at": None,
                "exit_reason": reason}
    if outcome == FAILED:
        return failure_values(reason, lost=False)
    raise ValueError(f"outcome: expected one of {SUCCEEDED}, {INTERRUPTED}, {FAILED}; "
                     f"got {outcome!r}")


def end_statements(values: dict, dialect: str) -> tuple[Any, ...]:
    """The statements that end the held attempt with the job's SET ``values`` (parameters p_job,
    p_worker, p_outcome and whatever ``values`` binds), run in one transaction: on PostgreSQL
    one statement (data-modifying CTEs) returning the job's new state; elsewhere the job's
    UPDATE (returning it) and then the close of its attempt row."""
    if dialect == "postgresql":
        ended = held_job_update(values).cte("ended")
        closed = close_attempt(JobAttempt.job_id.in_(select(ended.c.id))).cte("closed")
        return (select(ended.c.id, ended.c.state).add_cte(closed),)
    return held_job_update(values), close_attempt(JobAttempt.job_id == _param("job"))


@cache
def end_attempt(outcome: str, dialect: str) -> tuple[Any, ...]:
    """:func:`end_statements` of the common ends: succeeded, interrupted, failed (p_reason)."""
    return end_statements(_end_values(outcome), dialect)


def param_values(**values: Any) -> dict:
    """Execution parameters for the statements above: ``p_`` + name."""
    return {f"p_{k}": v for k, v in values.items()}
