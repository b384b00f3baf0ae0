"""GFLOPs of a model architecture, counted once per code version and kept on disk.

Counting traces the model at the paper's 1x3x1024x2048 (0.3-1.5 s on a CPU): a training job
pays it before its first iteration, though the figure depends only on the architecture (model
name, number of classes), the input size and the code (regseg's and torch's versions and the
source of ``regseg/models/``). :func:`cached_gflops` reads it from
``<cache>/gflops-<fingerprint>.json`` when this code version has counted it before, else counts
the given model and stores the figure. The cache directory is the one of ``regseg models``:
``$REGSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/regseg``, else ``~/.cache/regseg``. A cache that
cannot be read or written means counting again, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Callable

MODELS_SOURCE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    if os.environ.get("REGSEG_CACHE_DIR"):
        return Path(os.environ["REGSEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "regseg"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 (16 hex digits) of the regseg and torch versions and the model source files."""
    digest = hashlib.sha256()
    for package in ("regseg-lab", "torch"):
        digest.update(f"{package}={_version(package)}\n".encode())
    for path in sorted(MODELS_SOURCE.rglob("*.py")):
        digest.update(path.relative_to(MODELS_SOURCE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
    except OSError:
        tmp.unlink(missing_ok=True)


def cached_gflops(model_name: str, num_classes: int, input_size: tuple[int, int],
                  count: Callable[[], float], *, directory: Path | None = None) -> float:
    """The GFLOPs of ``model_name`` with ``num_classes`` at 1x3xHxW: from the cache, else
    ``count()`` (the caller's counting of the very model), stored for the next job."""
    path = (directory or cache_dir()) / f"gflops-{code_fingerprint()}.json"
    key = f"{model_name}/{int(num_classes)}@{input_size[0]}x{input_size[1]}"
    value = _read(path).get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    value = float(count())
    data = _read(path)  # re-read: another job may have added entries meanwhile
    data[key] = value
    _write(path, data)
    return value
