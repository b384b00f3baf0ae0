"""A sweep's project directory as the queue stores it: relative to the queue database when the
database is a SQLite file inside the project (the self-contained layout ``<project>/.regseg/``),
so a copied or moved project's queue names the copy, not the original; absolute otherwise
(PostgreSQL, or a SQLite file outside the project: every host must see the same path).
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.uris import sqlite_path


def _db_dir(url: str) -> Path | None:
    path = sqlite_path(url)
    return path.resolve().parent if path is not None else None


def stored_project_dir(url: str, project_dir: str | os.PathLike) -> str:
    """What the ``sweeps.project_dir`` column holds for ``project_dir`` in the queue at ``url``."""
    project = Path(project_dir).resolve()
    base = _db_dir(url)
    if base is not None and base.is_relative_to(project):
        return os.path.relpath(project, base)
    return str(project)


def resolved_project_dir(url: str, stored: str | None) -> str | None:
    """The absolute project directory of a stored column value (the inverse of the above; old
    rows hold absolute paths and come back unchanged)."""
    if not stored or os.path.isabs(stored):
        return stored
    base = _db_dir(url)
    return str((base / stored).resolve()) if base is not None else stored
