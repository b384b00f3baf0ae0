"""Search pruning through the queue: the job reports each evaluated epoch's metrics, a search
driver asks its pruner and, when told to, requests a stop; the job polls for that request and
stops (checkpointing like a SIGTERM stop); the worker then moves the job to ``pruned``.

Every write is one compare-and-set statement; the job's own writes name the worker holding it,
so a job that was reaped or cancelled cannot report into a row it no longer owns.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from sqlalchemy import func, insert, select, update

from orchestrator.queue.lease import _cas
from orchestrator.queue.schema import Job, JobMetric, db_now
from orchestrator.queue.states import PRUNED, QUEUED, RUNNING, SUCCEEDED
from orchestrator.queue.store import Store


# ----------------------------------------------------------------------------- the job
def report_epoch(store: Store, job_id: int, worker_id: str, epoch: int,
                 metrics: Mapping[str, float]) -> int | None | bool:
    """Store ``metrics`` (name -> value) of 0-based ``epoch`` for the running job held by
    ``worker_id`` (a redone epoch overwrites its values). Returns the epoch a pruner asked to
    stop at (the job should stop now; nothing after that epoch is stored), None to go on, or
    False when the job is no longer this worker's."""
    with store.session_scope() as session:
        held = session.execute(
            select(Job.prune_requested_epoch)
            .where(Job.id == job_id, Job.worker_id == worker_id, Job.state == RUNNING)).first()
        if held is None:
            return False
        if held[0] is not None:  # the trial is pruned at that epoch: its stream ends there
            return held[0]
        for name, value in metrics.items():
            changed = session.execute(
                update(JobMetric)
                .where(JobMetric.job_id == job_id, JobMetric.epoch == epoch, JobMetric.name == name)
                .values(value=float(value), created_at=db_now())
                .execution_options(synchronize_session=False)).rowcount
            if not changed:
                session.execute(insert(JobMetric).values(job_id=job_id, epoch=int(epoch),
                                                         name=name, value=float(value)))
        return held[0]


def prune_requested(store: Store, job_id: int) -> int | None:
    """The epoch a pruner asked this job to stop at, or None."""
    with store.session_scope() as session:
        return session.execute(select(Job.prune_requested_epoch)
                               .where(Job.id == job_id)).scalar_one_or_none()


# ----------------------------------------------------------------------------- the driver
def epoch_metrics(store: Store, job_ids: Sequence[int], name: str) -> dict[int, dict[int, float]]:
    """{job id: {epoch: value of ``name``}} for the given jobs (jobs without reports absent).
    A job asked to stop ends its stream at that epoch: an epoch it stored while the request
    was being written is not part of the trial (its pruned epoch is the requested one), unless
    the request came too late and the job finished all its epochs (``succeeded``)."""
    out: dict[int, dict[int, float]] = {}
    if not job_ids:
        return out
    stmt = (select(JobMetric.job_id, JobMetric.epoch, JobMetric.value)
            .join(Job, Job.id == JobMetric.job_id)
            .where(JobMetric.job_id.in_(list(job_ids)), JobMetric.name == name,
                   Job.prune_requested_epoch.is_(None) | (Job.state == SUCCEEDED)
                   | (JobMetric.epoch <= Job.prune_requested_epoch))
            .order_by(JobMetric.job_id, JobMetric.epoch))
    with store.session_scope() as session:
        for job_id, epoch, value in session.execute(stmt):
            out.setdefault(int(job_id), {})[int(epoch)] = float(value)
    return out


def request_prune(store: Store, job_id: int, epoch: int) -> str | None:
    """The pruner says stop ``job_id`` at ``epoch``. A queued job (an interrupted attempt waiting
    for a worker) becomes ``pruned`` at once; a running one gets the request, which its job
    polls. Returns the job's state after the call (None: it had already ended)."""
    queued = (update(Job).where(Job.id == job_id, Job.state == QUEUED)
              .values(state=PRUNED, pruned_epoch=epoch, prune_requested_epoch=epoch,
                      finished_at=db_now(), updated_at=db_now(),
                      exit_reason=f"pruned at epoch {epoch} (while queued)")
              .returning(Job.state).execution_options(synchronize_session=False))
    running = (update(Job).where(Job.id == job_id, Job.state == RUNNING,
                                 Job.prune_requested_epoch.is_(None))
               .values(prune_requested_epoch=epoch, updated_at=db_now())
               .returning(Job.state).execution_options(synchronize_session=False))
    with store.session_scope() as session:
        state = session.execute(queued).scalar_one_or_none()
        if state is None:
            state = session.execute(running).scalar_one_or_none()
        if state is None:
            state = session.execute(select(Job.state).where(
                Job.id == job_id, Job.state == RUNNING)).scalar_one_or_none()
        return state


# ----------------------------------------------------------------------------- the worker
def prune(store: Store, job_id: int, worker_id: str) -> str | None:
    """The job stopped because its trial was pruned (it exited EXIT_PRUNED): running ->
    pruned, the attempt closed as ``pruned``. ``pruned_epoch`` is what the job recorded, else
    the requested epoch. Returns the new state, None if the job was not held."""
    values = {"state": PRUNED, "finished_at": db_now(), "lease_expires_at": None,
              "pruned_epoch": func.coalesce(Job.pruned_epoch, Job.prune_requested_epoch),
              "exit_reason": "pruned by the search's pruner"}
    return _cas(store, job_id, worker_id, values, outcome=PRUNED)


def pruned_epoch(store: Store, job_id: int) -> int | None:
    with store.session_scope() as session:
        return session.execute(select(Job.pruned_epoch)
                               .where(Job.id == job_id)).scalar_one_or_none()


__all__ = ["epoch_metrics", "prune", "prune_requested", "pruned_epoch", "report_epoch",
           "request_prune"]
