"""Paths the queue stores (``sweeps.project_dir``, ``jobs.job_dir``): relative to the queue
database's directory when the database is a SQLite file inside that path (the self-contained
project ``<project>/.regseg/queue.db``) or the path lies inside the database's directory (the
job directories ``<state>/jobs/N``), so a copied or moved project's queue names the copy, not the
original. Absolute otherwise (PostgreSQL, or a SQLite file elsewhere: every host must see the
same path).
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.uris import sqlite_path


def _db_dir(url: str) -> Path | None:
    path = sqlite_path(url)
    return path.resolve().parent if path is not None else None


def stored_path(url: str, path: str | os.PathLike) -> str:
    """What the queue at ``url`` stores for ``path``."""
    target = Path(path).resolve()
    base = _db_dir(url)
    if base is not None and (base.is_relative_to(target) or target.is_relative_to(base)):
        return os.path.relpath(target, base)
    return str(target)


def resolved_path(url: str, stored: str | None) -> str | None:
    """The absolute path of a stored value (the inverse of :func:`stored_path`; rows written
    before relative paths hold absolute ones and come back unchanged)."""
    if not stored or os.path.isabs(stored):
        return stored
    base = _db_dir(url)
    return str((base / stored).resolve()) if base is not None else stored
