"""Where MLflow data lives and how this project talks to it (no network surprises, fast failure).

Resolution of the tracking URI (first that is set wins): the explicit argument, ``$MLFLOW_TRACKING_URI``,
the embedded default ``sqlite:///<state>/mlflow.db`` with artifacts under ``<state>/mlartifacts``,
where ``<state>`` is ``orchestrator.paths.state_dir()`` (``$REGSEG_HOME`` or ``./.regseg``).

``configure_mlflow_env()`` sets (unless the user already did) short HTTP timeouts and at most one
retry, so a tracking-server outage costs a training loop about a second per attempt instead of the
client's default of minutes of back-off, and it switches MLflow's usage telemetry off (no network
calls except to the tracking server the user named).
"""

from __future__ import annotations

import os
from pathlib import Path

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

# Env contract (worker -> job): a truthy value logs only the best checkpoint's path, not the file.
NO_LOG_CHECKPOINTS_ENV = "REGSEG_NO_LOG_CHECKPOINTS"
_TRUTHY = frozenset({"1", "true", "yes", "on"})


def configure_mlflow_env() -> None:
    """Apply MLFLOW_ENV_DEFAULTS to this process's environment (idempotent, keeps user values)."""
    for key, value in MLFLOW_ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def state_dir() -> Path:
    """The project's state directory (queue DB, MLflow store, job dirs); see docs/CONTRACTS.md."""
    try:
        from orchestrator.paths import state_dir as _state_dir
    except ImportError:  # paths.py not there: the same rule, stated in docs/CONTRACTS.md
        return Path(os.environ.get("REGSEG_HOME") or ".regseg").resolve()
    return Path(_state_dir()).resolve()


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` or the embedded ``sqlite:///<state>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{state_dir() / 'mlflow.db'}"


def default_artifact_root() -> Path:
    """``<state>/mlartifacts``: where experiments created on a local store keep their artifacts."""
    return state_dir() / "mlartifacts"


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    return tracking_uri or default_tracking_uri()


def is_remote(tracking_uri: str) -> bool:
    """True for a tracking server (http/https): it chooses artifact locations itself."""
    return tracking_uri.split(":", 1)[0].lower() in ("http", "https")


def ensure_local_store(tracking_uri: str) -> None:
    """Create the directory of a ``sqlite:///`` store so MLflow can open it."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        Path(tracking_uri[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)


def make_client(tracking_uri: str):
    """An ``MlflowClient`` bound to ``tracking_uri`` (env configured first; mlflow imported lazily)."""
    configure_mlflow_env()
    ensure_local_store(tracking_uri)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def log_checkpoints_enabled() -> bool:
    """False when ``$REGSEG_NO_LOG_CHECKPOINTS`` is truthy (1/true/yes/on)."""
    return os.environ.get(NO_LOG_CHECKPOINTS_ENV, "").strip().lower() not in _TRUTHY
