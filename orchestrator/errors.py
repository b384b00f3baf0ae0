"""Errors the orchestrator raises (specs, queue, workers, tracking)."""

from __future__ import annotations

from regseg.errors import RegsegError
from regseg.exit_codes import EXIT_USAGE


class SpecError(RegsegError):
    """An ablation spec is invalid: names the file, the key path, the line (when known) and why."""

    exit_code = EXIT_USAGE


class QueueError(RegsegError):
    """A queue operation cannot be done (unknown job, wrong state, database unreachable)."""


class TrackingError(RegsegError):
    """MLflow tracking failed in a way that cannot be buffered."""
