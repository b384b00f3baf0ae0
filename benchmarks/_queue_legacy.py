"""The queue's claim path as it was before the one-statement claim (commit 4fb5e05), kept so
benchmarks/bench_queue.py can measure old and new in one run on the same machine.

Old path: ORM session per transaction, ``pool_pre_ping`` on PostgreSQL (a ping, which with
psycopg also opens the transaction, on every checkout), claim = UPDATE ... RETURNING id, a SELECT
of the job and its sweep, an ORM flush of the attempt row and a count (5 round trips plus BEGIN
and COMMIT), succeed = two UPDATEs (plus BEGIN and COMMIT). The queue databases it runs against
have ``ix_jobs_queued`` dropped, as before migration 0004. Benchmark use only.
"""

from __future__ import annotations

from sqlalchemy import create_engine, func, select, text, update

from orchestrator.queue.schema import Job, JobAttempt, Sweep, db_now, now_plus
from orchestrator.queue.states import QUEUED, RUNNING, SUCCEEDED
from orchestrator.queue.store import Store, _sqlite_engine


def legacy_store(url: str) -> Store:
    """A Store on ``url`` with the old engine options (the schema must exist already)."""
    if url.startswith("sqlite"):
        return Store(url, _sqlite_engine(url))
    return Store(url, create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8))


def drop_queued_index(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP INDEX IF EXISTS ix_jobs_queued"))


def claim(store: Store, worker_id: str, *, lease_seconds: float) -> int | None:
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
        session.execute(select(Job, Sweep.project_dir, Sweep.spec_hash)
                        .join(Sweep, Sweep.id == Job.sweep_id).where(Job.id == job_id)).one()
        session.add(JobAttempt(job_id=job_id, worker_id=worker_id, host="", slot=""))
        session.flush()
        session.execute(select(func.count()).select_from(JobAttempt)
                        .where(JobAttempt.job_id == job_id)).scalar_one()
        return job_id


def succeed(store: Store, job_id: int, worker_id: str) -> str | None:
    stmt = (update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.state == RUNNING)
            .values(updated_at=db_now(), state=SUCCEEDED, finished_at=db_now(),
                    lease_expires_at=None, exit_reason=None)
            .returning(Job.state).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        state = session.execute(stmt).scalar_one_or_none()
        if state is not None:
            session.execute(update(JobAttempt)
                            .where(JobAttempt.ended_at.is_(None), JobAttempt.job_id == job_id,
                                   JobAttempt.worker_id == worker_id)
                            .values(outcome=SUCCEEDED, ended_at=db_now())
                            .execution_options(synchronize_session=False))
        return state
