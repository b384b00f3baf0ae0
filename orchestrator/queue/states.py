"""The job-state vocabulary (docs/DESIGN.md, "Queue semantics")."""

from __future__ import annotations

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
#: States a job never leaves on its own (only ``retry`` moves failed/cancelled back to queued).
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)
#: States in which a job still needs a worker.
PENDING_STATES = (QUEUED, RUNNING)
#: Where an attempt's starting checkpoint came from (``job_attempts.checkpoint_source``).
CHECKPOINT_SOURCES = ("local", "tracking", "none")
