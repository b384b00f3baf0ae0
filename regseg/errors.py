"""Errors the science package raises. The CLI maps them to one readable line and an exit code."""

from __future__ import annotations

from regseg.exit_codes import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE


class RegsegError(Exception):
    """Base of every error this project raises on purpose. ``exit_code`` is what the CLI exits
    with."""

    exit_code = EXIT_FAILURE

    def __init__(self, *args: object, exit_code: int | None = None) -> None:
        super().__init__(*args)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(RegsegError, ValueError):
    """A configuration value is invalid (names the field, the expected and the actual value)."""

    exit_code = EXIT_USAGE


class UnknownNameError(RegsegError, KeyError):
    """A name looked up in a registry does not exist; the message lists the valid names."""

    exit_code = EXIT_USAGE

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsMismatchError(RegsegError):
    """A checkpoint does not fit a model (missing / unexpected / wrongly-shaped keys)."""


class DatasetError(RegsegError):
    """A dataset directory or split is missing, empty or malformed (names the path expected)."""

    exit_code = EXIT_USAGE


class TrainingDiverged(RegsegError):
    """The loss became non-finite; names the epoch and iteration."""


class CheckpointError(RegsegError):
    """No usable checkpoint could be read."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (e.g. no space left on the device); the message names
    the file and the OS error, and the previous checkpoint is left as it was."""


class TrainingInterrupted(RegsegError):
    """Training was stopped on request (SIGTERM/SIGINT); ``<out>/checkpoints/last.pt`` resumes it.

    Exit status 75 (EX_TEMPFAIL): the worker requeues the job without counting a failure.
    """

    exit_code = EXIT_INTERRUPTED
