"""Where MLflow data lives and how this project talks to it (no network surprises, fast failure).

Resolution of the tracking URI (first that is set wins): the explicit argument,
``$MLFLOW_TRACKING_URI``, the embedded default ``sqlite:///<state>/mlflow.db`` with artifacts
under ``<state>/mlartifacts``, where ``<state>`` is ``orchestrator.paths.state_dir()``
(``$REGSEG_HOME`` or ``./.regseg``).

``configure_mlflow_env()`` sets (unless the user already did) short HTTP timeouts and at most one
retry, so a tracking-server outage costs a training loop about a second per attempt instead of the
client's default of minutes of back-off, and it switches MLflow's usage telemetry off (no network
calls except to the tracking server the user named).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from orchestrator.paths import state_dir
from orchestrator.uris import ensure_sqlite_parent, is_http, sqlite_path, sqlite_url

# Env defaults applied by configure_mlflow_env(); a value the user exported is kept.
MLFLOW_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}


def configure_mlflow_env() -> None:
    """Apply MLFLOW_ENV_DEFAULTS to this process's environment (idempotent, keeps user values)."""
    for key, value in MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` or the embedded ``sqlite:///<state>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return sqlite_url(state_dir() / "mlflow.db")


def default_artifact_root() -> Path:
    """``<state>/mlartifacts``: where experiments created on a local store keep their artifacts."""
    return state_dir() / "mlartifacts"


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    return tracking_uri or default_tracking_uri()


is_remote = is_http
ensure_local_store = ensure_sqlite_parent  # create a sqlite:/// store's directory


def make_client(tracking_uri: str):
    """An ``MlflowClient`` bound to ``tracking_uri`` (env configured first; mlflow imported lazily).

    A new ``sqlite:///`` store is created under an exclusive file lock: MLflow creates its tables
    on first use, and two processes doing that at once (two workers, two SLURM tasks on one
    node) fail with "table experiments already exists".
    """
    configure_mlflow_env()
    ensure_sqlite_parent(tracking_uri)
    from mlflow.tracking import MlflowClient

    path = sqlite_path(tracking_uri)
    if path is None or tracking_uri in _initialised:
        return MlflowClient(tracking_uri=tracking_uri)
    with open(path.with_name(path.name + ".init-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        client = MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)  # creates the schema when it is missing
    _initialised.add(tracking_uri)
    return client


_initialised: set[str] = set()

