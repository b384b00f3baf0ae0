"""The durable job queue: submit, claim, heartbeat, finish, reap, cancel, retry, status.

Every state change is one compare-and-set UPDATE whose WHERE clause names the state (and, for a
running job, the worker) it expects; timestamps come from the database clock. ``attempts``
counts failed attempts (non-zero exit, death by signal, lost lease); an interrupted job (exit 75
after a SIGTERM) is requeued without counting one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, case, func, insert, not_, select, update

from orchestrator.errors import QueueError
from orchestrator.schema import JOB_STATES, Job, Sweep, db_now, now_plus
from orchestrator.store import Store

IN_CHUNK = 500  # run hashes per IN (...) lookup


@dataclass(frozen=True)
class SubmitResult:
    spec_name: str
    sweep_id: int | None  # None for a dry run
    n_runs: int
    n_new: int
    n_known: int
    rows: list = field(default_factory=list, repr=False)  # per run: label, seed, hash, new


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
    attempt: int  # 1-based number of this attempt
    max_attempts: int
    mlflow_run_id: str | None
    project_dir: str | None


# ----------------------------------------------------------------------------- submit
def _known_repetitions(session: Any, hashes: Sequence[str]) -> dict[str, int]:
    known: dict[str, int] = {}
    unique = sorted(set(hashes))
    for i in range(0, len(unique), IN_CHUNK):
        chunk = unique[i:i + IN_CHUNK]
        stmt = (select(Job.run_hash, func.max(Job.repetition))
                .where(Job.run_hash.in_(chunk)).group_by(Job.run_hash))
        known.update({h: rep for h, rep in session.execute(stmt)})
    return known


def submit(store: Store, batches: Sequence[tuple[Any, Sequence[Any]]], *, force: bool = False,
           priority: int = 0, max_attempts: int = 3, dry_run: bool = False) -> list[SubmitResult]:
    """Queue every (spec, runs) batch in ONE transaction; one sweep per spec.

    A run whose hash is already in the queue (any state) is "known" and skipped, unless
    ``force``, which adds a new repetition. ``dry_run`` only counts. Nothing is written when any
    batch fails.
    """
    if max_attempts < 1:
        raise QueueError(f"max_attempts: expected >= 1, got {max_attempts}")
    results = []
    with store.session_scope() as session:
        known = _known_repetitions(session, [r.run_hash for _, runs in batches for r in runs])
        for spec, runs in batches:
            results.append(_submit_one(session, spec, runs, known, force=force, priority=priority,
                                       max_attempts=max_attempts, dry_run=dry_run))
        if dry_run:
            session.rollback()
    return results


def _submit_one(session: Any, spec: Any, runs: Sequence[Any], known: dict[str, int], *,
                force: bool, priority: int, max_attempts: int, dry_run: bool) -> SubmitResult:
    new_rows, rows = [], []
    for run in runs:
        # A run is (run_hash, repetition): a spec's `repeats` asks for repetitions 0..N-1, and
        # --force adds one more on top of what is known.
        wanted = getattr(run, "repetition", 0)
        is_new = force or wanted > known.get(run.run_hash, -1)
        rows.append({"label": run.label, "seed": run.seed, "repetition": wanted,
                     "run_hash": run.run_hash[:12], "model_name": run.config.model_name,
                     "status": "new" if is_new else "known"})
        if is_new:
            rep = known.get(run.run_hash, -1) + 1 if force else wanted
            known[run.run_hash] = max(rep, known.get(run.run_hash, -1))  # later batches see it
            new_rows.append((run, rep))
    sweep_id = None
    if not dry_run:
        sweep = Sweep(spec_name=spec.name, group=spec.group, spec_path=str(spec.path),
                      project_dir=str(spec.project_dir), n_runs=len(runs), n_new=len(new_rows))
        session.add(sweep)
        session.flush()
        sweep_id = sweep.id
        tags = json.dumps(spec.tags, sort_keys=True)
        gpus = int(spec.resources.get("gpus", 1))
        rows_to_insert = [
            {"sweep_id": sweep_id, "spec_name": spec.name, "group": spec.group,
             "run_hash": run.run_hash, "repetition": rep, "label": run.label, "seed": run.seed,
             "config": run.config.canonical_json(), "tags": tags, "gpus": gpus, "state": "queued",
             "priority": priority, "attempts": 0, "max_attempts": max_attempts}
            for run, rep in new_rows]
        if rows_to_insert:
            session.execute(insert(Job), rows_to_insert)
    return SubmitResult(spec_name=spec.name, sweep_id=sweep_id, n_runs=len(runs),
                        n_new=len(new_rows), n_known=len(runs) - len(new_rows), rows=rows)


# ----------------------------------------------------------------------------- worker side
def claim(store: Store, worker_id: str, *, lease_seconds: float) -> ClaimedJob | None:
    """Atomically move the best queued job to running for ``worker_id``; None when none is queued.

    One UPDATE ... WHERE id = (SELECT ... LIMIT 1 [FOR UPDATE SKIP LOCKED]) AND state='queued'.
    """
    pick = (select(Job.id).where(Job.state == "queued")
            .order_by(Job.priority.desc(), Job.id).limit(1)
            .with_for_update(skip_locked=True).scalar_subquery())
    stmt = (update(Job).where(Job.id == pick, Job.state == "queued")
            .values(state="running", worker_id=worker_id, lease_expires_at=now_plus(lease_seconds),
                    started_at=func.coalesce(Job.started_at, db_now()), updated_at=db_now(),
                    finished_at=None)
            .returning(Job.id)
            .execution_options(synchronize_session=False))
    with store.session_scope() as session:
        job_id = session.execute(stmt).scalar_one_or_none()
        if job_id is None:
            return None
        job, project_dir = session.execute(
            select(Job, Sweep.project_dir).join(Sweep, Sweep.id == Job.sweep_id)
            .where(Job.id == job_id)).one()
        return ClaimedJob(id=job.id, sweep_id=job.sweep_id, spec_name=job.spec_name,
                          group=job.group, run_hash=job.run_hash, label=job.label, seed=job.seed,
                          config=json.loads(job.config), tags=json.loads(job.tags),
                          attempt=job.attempts + 1, max_attempts=job.max_attempts,
                          mlflow_run_id=job.mlflow_run_id, project_dir=project_dir)


def _cas(store: Store, job_id: int, worker_id: str, values: dict) -> str | None:
    """UPDATE the running job held by ``worker_id``; return its new state, None if not held."""
    stmt = (update(Job).where(Job.id == job_id, Job.worker_id == worker_id, Job.state == "running")
            .values(updated_at=db_now(), **values).returning(Job.state)
            .execution_options(synchronize_session=False))
    with store.session_scope() as session:
        return session.execute(stmt).scalar_one_or_none()


def heartbeat(store: Store, job_id: int, worker_id: str, *, lease_seconds: float) -> bool:
    """Renew the lease; False when the job is no longer this worker's (reaped or cancelled)."""
    return _cas(store, job_id, worker_id, {"lease_expires_at": now_plus(lease_seconds)}) is not None


def record(store: Store, job_id: int, worker_id: str, **values: Any) -> bool:
    """Store ``job_dir`` / ``mlflow_run_id`` on a job this worker holds."""
    allowed = {"job_dir", "mlflow_run_id"}
    if not set(values) <= allowed:
        raise QueueError(f"record: expected keys among {sorted(allowed)}, got {sorted(values)}")
    return _cas(store, job_id, worker_id, values) is not None


def succeed(store: Store, job_id: int, worker_id: str) -> str | None:
    return _cas(store, job_id, worker_id, {"state": "succeeded", "finished_at": db_now(),
                                           "lease_expires_at": None, "exit_reason": None})


def requeue_interrupted(store: Store, job_id: int, worker_id: str, reason: str) -> str | None:
    """Back to queued without counting an attempt (the job checkpointed and exited 75)."""
    return _cas(store, job_id, worker_id, {"state": "queued", "worker_id": None,
                                           "lease_expires_at": None, "exit_reason": reason})


def _failure_values(reason: Any) -> dict:
    exhausted = Job.attempts + 1 >= Job.max_attempts
    return {"attempts": Job.attempts + 1,
            "state": case((exhausted, "failed"), else_="queued"),
            "finished_at": case((exhausted, db_now()), else_=None),
            "worker_id": None, "lease_expires_at": None, "exit_reason": reason}


def fail(store: Store, job_id: int, worker_id: str, reason: str) -> str | None:
    """A failed attempt: requeued while attempts < max_attempts, else failed. Returns the state."""
    return _cas(store, job_id, worker_id, _failure_values(reason))


def reap(store: Store) -> list[tuple[int, str]]:
    """Requeue (or fail, after max_attempts) every running job whose lease has expired."""
    reason = "lease expired (worker " + func.coalesce(Job.worker_id, "?") + ")"
    stmt = (update(Job).where(Job.state == "running", Job.lease_expires_at < db_now())
            .values(updated_at=db_now(), **_failure_values(reason))
            .returning(Job.id, Job.state).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        return [(i, s) for i, s in session.execute(stmt)]


# ----------------------------------------------------------------------------- management
def cancel(store: Store, *, job_ids: Iterable[int] = (), sweep_id: int | None = None) -> list[int]:
    """Cancel queued or running jobs (a running job's worker stops it at its next heartbeat)."""
    where = _selection(job_ids, sweep_id)
    stmt = (update(Job).where(where, Job.state.in_(("queued", "running")))
            .values(state="cancelled", finished_at=db_now(), updated_at=db_now(),
                    exit_reason="cancelled")
            .returning(Job.id).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        _require_existing(session, job_ids, sweep_id)
        return sorted(session.execute(stmt).scalars())


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
                  "worker_id", "exit_reason", "mlflow_run_id", "run_hash", "priority",
                  "max_attempts", "job_dir", "created_at", "started_at", "finished_at",
                  "updated_at", "lease_expires_at", "group", "repetition")


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
        return [{c: getattr(j, c) for c in STATUS_COLUMNS} for j in session.execute(stmt).scalars()]


def counts(store: Store, *, sweep_id: int | None = None) -> dict[str, int]:
    """Number of jobs per state (every state present, zeros included)."""
    from orchestrator.schema import JOB_STATES

    stmt = select(Job.state, func.count()).group_by(Job.state)
    if sweep_id is not None:
        stmt = stmt.where(Job.sweep_id == sweep_id)
    with store.session_scope() as session:
        found = dict(session.execute(stmt).all())
    return {s: int(found.get(s, 0)) for s in JOB_STATES}


def has_pending(store: Store) -> bool:
    """True while any job is queued or running (workers with --exit-when-empty wait for it)."""
    stmt = select(Job.id).where(Job.state.in_(("queued", "running"))).limit(1)
    with store.session_scope() as session:
        return session.execute(stmt).first() is not None


def job_states(store: Store, job_ids: Sequence[int]) -> dict[int, str]:
    """{job id: state} for the given ids (unknown ids are absent)."""
    with store.session_scope() as session:
        return dict(session.execute(select(Job.id, Job.state).where(Job.id.in_(list(job_ids)))).all())


def submit_specs(store: Store, paths: Sequence[Any], *, project_dir: Any = None,
                 overrides: dict | None = None, **kwargs: Any) -> list[SubmitResult]:
    """Load, validate and expand every spec first, then submit them all in one transaction."""
    from orchestrator.specs import expand, load_spec

    batches = []
    for path in paths:
        spec = load_spec(path, project_dir=project_dir, overrides=overrides)
        batches.append((spec, expand(spec)))
    return submit(store, batches, **kwargs)
