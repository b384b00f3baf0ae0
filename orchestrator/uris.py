"""Store URLs, parsed in one place: the queue database, the MLflow tracking URI, Optuna storage.

``sqlite:///PATH`` (the embedded default: a file under the state directory), ``postgresql+...``
(many hosts) and, for MLflow only, ``http(s)://`` (a tracking server).
"""

from __future__ import annotations

from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def sqlite_url(path: str | Path) -> str:
    return f"{SQLITE_PREFIX}{path}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> Path | None:
    """The file of a file-backed SQLite URL (None for other URLs and in-memory SQLite)."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    rest = url[len(SQLITE_PREFIX):].split("?", 1)[0]
    return Path(rest).expanduser() if rest not in ("", ":memory:") else None


def is_http(url: str) -> bool:
    """True for a tracking server (http/https): it chooses artifact locations itself."""
    return url.split(":", 1)[0].lower() in ("http", "https")


def ensure_sqlite_parent(url: str) -> None:
    """Create the directory of a file-backed SQLite URL so the first open succeeds."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def sqlite_missing(url: str) -> bool:
    """True for a file-backed SQLite URL whose file does not exist (yet)."""
    path = sqlite_path(url)
    return path is not None and not path.exists()
