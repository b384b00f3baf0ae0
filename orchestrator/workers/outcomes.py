"""How a job attempt ended, from the worker's side: one table from exit status to outcome.

| exit                                            | outcome     | queue transition            |
| ----------------------------------------------- | ----------- | --------------------------- |
| the worker lost the job (cancelled, reaped)     | lost        | none (release a cancel)     |
| 0                                               | succeeded   | running -> succeeded        |
| 75 (EXIT_INTERRUPTED)                           | interrupted | running -> queued, free     |
| 76 (EXIT_PRUNED): a search's pruner stopped it  | pruned      | running -> pruned           |
| killed by our own SIGTERM before its handler    | interrupted | running -> queued, free     |
| anything else (non-zero, killed by a signal)    | failed      | running -> queued or failed |

The reason of a failed attempt is the exit status plus the error the job itself recorded in its
queue row (``error``), never text parsed from its log.
"""

from __future__ import annotations

import signal
from enum import Enum

from regseg.exit_codes import EXIT_INTERRUPTED, EXIT_OK

#: The job stopped because a search's pruner asked it to (it checkpointed like a SIGTERM stop
#: and recorded ``pruned_epoch`` in its queue row). Only the job process exits with it.
EXIT_PRUNED = 76


class Outcome(str, Enum):
    LOST = "lost"
    SUCCEEDED = "succeeded"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"
    FAILED = "failed"


def classify(rc: int, *, term_sent: bool, lost: bool) -> Outcome:
    """The outcome of an attempt that exited with ``rc`` (negative: killed by signal -rc)."""
    if lost:
        return Outcome.LOST
    if rc == EXIT_OK:
        return Outcome.SUCCEEDED
    if rc == EXIT_PRUNED:
        return Outcome.PRUNED
    if rc == EXIT_INTERRUPTED or (term_sent and rc == -signal.SIGTERM):
        return Outcome.INTERRUPTED
    return Outcome.FAILED


def failure_reason(rc: int, job_error: str | None = None) -> str:
    """``killed by SIGKILL`` / ``exit status 1: DatasetError: ...`` (the job's own error)."""
    if rc < 0:
        try:
            reason = f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            reason = f"killed by signal {-rc}"
    else:
        reason = f"exit status {rc}"
    return f"{reason}: {job_error[:500]}" if job_error else reason
