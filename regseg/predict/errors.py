"""Errors of ``regseg predict``: subclasses of the project's errors (regseg/errors.py), so code
that catches ``DatasetError`` / ``CheckpointError`` / ``WeightsMismatchError`` still does; all are
usage errors for the CLI (exit status 2)."""

from __future__ import annotations

from regseg.errors import CheckpointError, DatasetError, WeightsMismatchError


class InputImageError(DatasetError):
    """An input path is missing, a directory holds no image, or an image cannot be read."""

    exit_code = 2


class WeightsFileError(CheckpointError):
    """The weights file is missing or not a weights-only torch file."""

    exit_code = 2


class ModelMismatchError(WeightsMismatchError):
    """The checkpoint does not fit the requested model; the message names the zoo models it
    fits, when there are any."""

    exit_code = 2
