"""The job-state vocabulary (docs/DESIGN.md, "Queue semantics")."""

from __future__ import annotations

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = ("queued", "running", "succeeded", "failed",
                                                 "cancelled")
#: Stopped early on purpose by a search's pruner (its Optuna trial is PRUNED).
PRUNED = "pruned"
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, PRUNED)
#: States a job never leaves on its own (only ``retry`` moves failed/cancelled back to queued).
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED, PRUNED)
#: States in which a job still needs a worker.
PENDING_STATES = (QUEUED, RUNNING)
#: Where an attempt's starting checkpoint came from (``job_attempts.checkpoint_source``).
CHECKPOINT_SOURCES = ("local", "tracking", "none")
