"""Where the orchestrator keeps its state: the queue database, job directories, MLflow store.

``state_dir()`` is ``$REGSEG_HOME`` when set, else ``./.regseg`` under the current directory.
Nothing here creates directories except the explicit ``ensure_*`` helpers.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.uris import sqlite_url


def state_dir() -> Path:
    """The state directory: ``$REGSEG_HOME`` or ``./.regseg`` (absolute, not created)."""
    home = os.environ.get("REGSEG_HOME")
    return Path(home).expanduser().resolve() if home else (Path.cwd() / ".regseg").resolve()


def default_db_url() -> str:
    """Queue database URL: ``$REGSEG_DB`` or the embedded SQLite file ``<state>/queue.db``."""
    return os.environ.get("REGSEG_DB") or sqlite_url(state_dir() / "queue.db")


def jobs_dir() -> Path:
    """Parent of the per-job directories ``<state>/jobs/<job_id>/``."""
    return state_dir() / "jobs"


def job_dir(job_id: int) -> Path:
    return jobs_dir() / str(job_id)

