"""Queue tables (SQLAlchemy 2 declarative) and the database-clock expressions they rely on.

Every timestamp is written by the database (``db_now()`` / ``db_now_plus(seconds)``), never by a
worker's clock, so leases compare correctly across hosts. On SQLite timestamps are stored as
``YYYY-MM-DD HH:MM:SS.fff`` UTC text (millisecond resolution; such strings sort like times); on
PostgreSQL as ``timestamp without time zone`` in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    literal,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

from orchestrator.queue.states import JOB_STATES

_SQLITE_FMT = "%Y-%m-%d %H:%M:%f"


class DbTimestamp(TypeDecorator):
    """UTC timestamp: text on SQLite (ms resolution, sortable), TIMESTAMP elsewhere."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, dt.datetime) and dialect.name == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        return value


class db_now(FunctionElement):
    """The database's current UTC time."""

    type = DbTimestamp()
    inherit_cache = True


class db_now_plus(FunctionElement):
    """The database's current UTC time plus ``seconds`` (a number)."""

    type = DbTimestamp()
    inherit_cache = True


@compiles(db_now, "sqlite")
def _now_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strftime('{_SQLITE_FMT}', 'now')"


@compiles(db_now, "postgresql")
def _now_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return "(statement_timestamp() AT TIME ZONE 'UTC')"


@compiles(db_now)
def _now_default(element: Any, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(db_now_plus, "sqlite")
def _plus_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (seconds,) = list(element.clauses)
    return f"strftime('{_SQLITE_FMT}', 'now', ({compiler.process(seconds, **kw)}) || ' seconds')"


@compiles(db_now_plus, "postgresql")
def _plus_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (seconds,) = list(element.clauses)
    return ("((statement_timestamp() AT TIME ZONE 'UTC') + "
            f"make_interval(secs => {compiler.process(seconds, **kw)}))")


def now_plus(seconds: float) -> db_now_plus:
    return db_now_plus(literal(float(seconds)))


class Base(DeclarativeBase):
    pass


class Sweep(Base):
    """One submission of one spec (``regseg queue``)."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    spec_name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column("group_name", String(200))
    spec_path: Mapped[str] = mapped_column(Text)
    project_dir: Mapped[str] = mapped_column(Text)
    n_runs: Mapped[int] = mapped_column(Integer)
    n_new: Mapped[int] = mapped_column(Integer)
    spec_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # spec file + extends
    # JSON of the spec's adaptive `seeds:` policy (min, max, stop_when, margin, alpha, metric,
    # baseline label); None for a spec with a plain seed list.
    seed_policy: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DbTimestamp, server_default=db_now())


class Job(Base):
    """One run of a sweep.

    ``attempts`` counts the job's own failed attempts (non-zero exit, death by signal) against
    ``max_attempts``; ``lost_attempts`` counts attempts lost with their worker (lease expired:
    SIGKILL, node loss, preemption) against the larger ``max_lost_attempts``. The outcome
    columns (``best_*``, ``error``, ``pruned_epoch``) are written by the job through the queue
    API; ``regseg status``, search and the demo read them here.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("run_hash", "repetition", name="uq_jobs_run_hash_repetition"),
        Index("ix_jobs_claim", "state", "priority", "id"),
        Index("ix_jobs_sweep", "sweep_id"),
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in JOB_STATES)})",
                        name="ck_jobs_state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"))
    spec_name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column("group_name", String(200))
    run_hash: Mapped[str] = mapped_column(String(64))
    repetition: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[str] = mapped_column(Text)  # canonical JSON of the resolved TrainConfig
    tags: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    gpus: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DbTimestamp, nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    job_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    lost_attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_lost_attempts: Mapped[int] = mapped_column(Integer, default=10)
    best_miou: Mapped[float | None] = mapped_column(Float, nullable=True)
    best_miou_reduced: Mapped[float | None] = mapped_column(Float, nullable=True)
    best_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # the job's own last error
    pruned_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Set by a search driver whose pruner said stop at this epoch; the job polls it.
    prune_requested_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DbTimestamp, server_default=db_now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DbTimestamp, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DbTimestamp, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DbTimestamp, server_default=db_now())


# The head of the queue in claim order (migration 0004): a partial index of the queued jobs only.
_QUEUED = Job.state == "queued"
Index("ix_jobs_queued", Job.priority.desc(), Job.id, postgresql_where=_QUEUED, sqlite_where=_QUEUED)


class JobAttempt(Base):
    """One attempt of a job: who ran it where, and where it started from."""

    __tablename__ = "job_attempts"
    __table_args__ = (Index("ix_job_attempts_job", "job_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    worker_id: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(200))
    slot: Mapped[str] = mapped_column(String(64))
    slurm_job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checkpoint_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DbTimestamp, server_default=db_now())
    ended_at: Mapped[dt.datetime | None] = mapped_column(DbTimestamp, nullable=True)


class JobMetric(Base):
    """One evaluated epoch's metric of a job, reported by the job itself while it trains (the
    search driver feeds them to its pruner). Unique per (job, epoch, name): a redone epoch
    overwrites its value."""

    __tablename__ = "job_metrics"
    __table_args__ = (UniqueConstraint("job_id", "epoch", "name", name="uq_job_metrics"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    epoch: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DbTimestamp, server_default=db_now())


class ArmLook(Base):
    """One look of the adaptive-seeds policy at an arm (a grid point of a sweep) with ``n_seeds``
    finished seeds. The unique key makes each look happen once, whichever worker gets there
    first; ``decision`` is continue | stop, ``reason`` says why."""

    __tablename__ = "arm_looks"
    __table_args__ = (UniqueConstraint("sweep_id", "label", "n_seeds", name="uq_arm_looks"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id"))
    label: Mapped[str] = mapped_column(Text)
    n_seeds: Mapped[int] = mapped_column(Integer)
    n_baseline: Mapped[int] = mapped_column(Integer)
    estimate: Mapped[float | None] = mapped_column(Float, nullable=True)  # arm mean - baseline
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    alpha_spent: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)  # queued seeds cancelled
    saved_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DbTimestamp, server_default=db_now())
