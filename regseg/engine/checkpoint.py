"""Training checkpoints: atomic writes, a previous ``last`` to fall back on, RNG states.

Layout under ``<out>/checkpoints/``: ``last.pt`` (end of the latest completed epoch),
``last.prev.pt`` (the one before it), ``best.pt`` (best mIoU so far) and ``epoch_<k>.pt``
(0-based epoch k, every ``save_every_k_epochs``). Each file is a dict of tensors and plain
Python values only, so it loads with ``torch.load(weights_only=True)``:

``format``, ``model``, ``optimizer``, ``scheduler``, ``scaler`` (state dicts), ``epoch`` (last
completed epoch, -1 = none yet), ``iteration`` (optimiser steps done), ``best_mIoU``,
``best_mIoU_reduced``, ``best_epoch``, ``confusion_matrix`` (int64 tensor of the latest
evaluation or None), ``rng`` (python, numpy, torch, cuda, loader generator), ``config``
(TrainConfig as JSON-able dict). The ``model`` key matches the released-weights format.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from regseg.errors import CheckpointError, CheckpointWriteError

__all__ = ["CHECKPOINT_FORMAT", "atomic_save", "capture_rng", "restore_rng", "load_resume",
           "save_last", "checkpoint_dir"]

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("model", "optimizer", "scheduler", "epoch")


def checkpoint_dir(out_dir: str | os.PathLike) -> Path:
    """``<out>/checkpoints`` (created)."""
    path = Path(out_dir) / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_save(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same directory, fsync,
    ``os.replace``, fsync of the directory.

    A reader never sees a half-written ``path``: it holds the old or the new content. A failed
    write (the disk is full, ENOSPC) leaves ``path`` as it was, removes the temporary file and
    raises CheckpointWriteError naming the file and the OS error.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        _write_durably(_serialise(payload), tmp, target=path)
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_last(payload: dict[str, Any], directory: Path) -> Path:
    """Write ``last.pt``, keeping the previous one as ``last.prev.pt``.

    Order: new content to a temp file (fsynced); old ``last.pt`` -> ``last.prev.pt``; temp ->
    ``last.pt``. A crash between the two renames leaves only ``last.prev.pt``, which
    :func:`load_resume` uses; a failed write (CheckpointWriteError) renames nothing.
    """
    last = directory / "last.pt"
    tmp = directory / f".last.pt.tmp-{os.getpid()}"
    try:
        _write_durably(_serialise(payload), tmp, target=last)
        if last.exists():
            os.replace(last, directory / "last.prev.pt")
        os.replace(tmp, last)
        _fsync_directory(directory)
    finally:
        tmp.unlink(missing_ok=True)
    return last


def _serialise(payload: dict[str, Any]) -> memoryview:
    """The checkpoint's bytes, built in memory: torch's streaming writer reports a failing write
    as an opaque RuntimeError ("unexpected pos ..."), a plain ``write`` as the OSError it is."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getbuffer()


def _write_durably(data: memoryview, tmp: Path, *, target: Path) -> None:
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise CheckpointWriteError(_write_failure(target, exc, len(data))) from exc


def _write_failure(target: Path, exc: OSError, size: int) -> str:
    code = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else "unknown"
    reason = exc.strerror or str(exc)
    hint = "; free space on that file system" if exc.errno == errno.ENOSPC else ""
    return (f"cannot write checkpoint {target} ({size / 1e6:.1f} MB): {reason} ({code}); "
            f"the previous checkpoint is unchanged{hint}")


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable too (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any]:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(payload).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: expected keys {list(REQUIRED_KEYS)}, missing {missing}")
    return payload


def load_resume(directory: Path) -> tuple[dict[str, Any], Path] | None:
    """The checkpoint to resume from: ``last.pt``, else ``last.prev.pt`` (with a warning).

    Returns None when neither exists; raises CheckpointError when files exist but none loads.
    """
    errors = []
    for name in ("last.pt", "last.prev.pt"):
        path = directory / name
        if not path.exists():
            continue
        try:
            payload = _read(path)
        except Exception as exc:  # corrupt, truncated, foreign: try the previous one
            errors.append(f"{path}: {exc}")
            continue
        if errors:  # logged once: a warnings.warn as well would print it a second time
            log.warning(f"could not read {errors[0]}; resuming from {path} instead")
        return payload, path
    if errors:
        raise CheckpointError("no usable checkpoint to resume from: " + "; ".join(errors))
    return None


# ---------------------------------------------------------------------------- RNG states

def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Python, numpy, torch (CPU and every CUDA device) and loader-generator RNG states.

    Only tensors, tuples, lists and numbers, so the checkpoint stays ``weights_only``-loadable.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": generator.get_state() if generator is not None else None,
    }
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng` (CUDA states only when the device count matches)."""
    random.setstate(_as_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32),
                         np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if generator is not None and state.get("loader") is not None:
        generator.set_state(state["loader"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
