"""The durable job queue. Callers use ``from orchestrator import queue``.

``store`` (engines, sessions, migrations), ``schema`` (tables, the database clock), ``submit``
(runs into sweeps), ``lease`` (claim, heartbeat, the job's own reports, the attempt's end,
reap), ``transitions`` (the hot-path statements ``lease`` runs, built once), ``manage``
(cancel, retry, listings) and ``states`` (the job-state vocabulary).
"""

from orchestrator.queue.lease import (
    ClaimedJob,
    attempts_of,
    claim,
    fail,
    heartbeat,
    reap,
    record,
    record_result,
    record_start,
    requeue_interrupted,
    succeed,
)
from orchestrator.queue.manage import (
    STATUS_COLUMNS,
    cancel,
    counts,
    has_pending,
    job_error,
    job_states,
    jobs,
    release,
    retry,
)
from orchestrator.queue.submit import SubmitResult, submit

__all__ = ["STATUS_COLUMNS", "ClaimedJob", "SubmitResult", "attempts_of", "cancel", "claim",
           "counts", "fail", "has_pending", "heartbeat", "job_error", "job_states", "jobs", "reap",
           "record", "record_result", "record_start", "release", "requeue_interrupted", "retry",
           "submit", "succeed"]
