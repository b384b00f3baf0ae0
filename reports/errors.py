"""Errors the reports package raises."""

from __future__ import annotations

from regseg.errors import RegsegError


class LogFormatError(RegsegError):
    """A reference training log is malformed or truncated; names the file and line."""

    exit_code = 2


class ReportError(RegsegError):
    """A report cannot be built (no runs, unknown experiment, ...)."""
