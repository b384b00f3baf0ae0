"""A local ``mlflow server`` subprocess (the UI and REST API) for a given store, on 127.0.0.1,
and the UI addresses this project prints.

Used by ``regseg ui`` and by the tracking tests. The server runs in its own session (process
group) so stopping it also stops its uvicorn/gunicorn workers, and nothing else.

Every runs-view URL carries ``?workflowType=machine_learning``: MLflow 3.x opens an experiment in
its GenAI mode (a traces overview without runs) otherwise, whatever the experiment's kind tag.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from orchestrator.errors import TrackingError
from orchestrator.tracking.store import MLFLOW_ENV_DEFAULTS, ensure_local_store

# The server's GenAI job runner (an extra huey process) is not needed to track and browse runs;
# leaving it off saves a process and start-up time.
SERVER_ENV_DEFAULTS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
RUNS_VIEW_QUERY = "workflowType=machine_learning"  # the UI's "Model training" mode
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_EXPERIMENT_ID = "0"  # MLflow's own "Default" experiment


def runs_view_url(base_url: str, experiment_id: str) -> str:
    """The runs table of one experiment in the UI's "Model training" mode."""
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}?{RUNS_VIEW_QUERY}"


def experiments_url(base_url: str) -> str:
    """The UI's list of experiments."""
    return f"{base_url.rstrip('/')}/#/experiments"


def latest_experiment(client):
    """The active experiment whose newest run started last; without runs anywhere, the one
    updated last, MLflow's "Default" only when it is alone. None for an empty store."""
    from mlflow.entities import ViewType

    newest = []
    for exp in client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000):
        runs = client.search_runs([exp.experiment_id], max_results=1,
                                  order_by=["attributes.start_time DESC"])
        started = runs[0].info.start_time if runs else -1
        newest.append((started, exp.experiment_id != DEFAULT_EXPERIMENT_ID,
                       exp.last_update_time or 0, exp))
    if not newest:
        return None
    return max(newest, key=lambda row: row[:3])[3]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_command(*, backend_store_uri: str, host: str, port: int,
                   default_artifact_root: str | Path | None = None,
                   artifacts_destination: str | Path | None = None,
                   workers: int = 1) -> list[str]:
    """The argv of ``mlflow server`` for one store (no shell involved)."""
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri,
            "--host", host, "--port", str(port), "--workers", str(workers)]
    if default_artifact_root is not None:
        argv += ["--default-artifact-root", str(default_artifact_root)]
    if artifacts_destination is not None:
        argv += ["--artifacts-destination", str(artifacts_destination)]
    return argv


class MlflowServer:
    """Start/stop a ``mlflow server`` subprocess; ``url`` is where it serves."""

    def __init__(self, *, backend_store_uri: str, port: int | None = None, host: str = "127.0.0.1",
                 default_artifact_root: str | Path | None = None,
                 artifacts_destination: str | Path | None = None,
                 log_path: str | Path | None = None) -> None:
        self.backend_store_uri = backend_store_uri
        self.host = host
        self.port = port or free_port(host)
        self.default_artifact_root = default_artifact_root
        self.artifacts_destination = artifacts_destination
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, *, wait_s: float = 60.0) -> "MlflowServer":
        ensure_local_store(self.backend_store_uri)
        argv = server_command(backend_store_uri=self.backend_store_uri, host=self.host,
                              port=self.port, default_artifact_root=self.default_artifact_root,
                              artifacts_destination=self.artifacts_destination)
        env = {**MLFLOW_ENV_DEFAULTS, **SERVER_ENV_DEFAULTS, **os.environ}
        # Without a log file the server's log goes to our stderr (fd 2), keeping stdout clean.
        out = open(self.log_path, "ab") if self.log_path else 2
        try:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        finally:
            if self.log_path:
                out.close()
        self.wait_ready(wait_s)
        return self

    def wait_ready(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise TrackingError(f"mlflow server exited with status {self.process.returncode}"
                                    f" before serving {self.url}" + self._log_hint())
            if self.healthy():
                return
            time.sleep(0.25)
        self.stop()
        raise TrackingError(f"mlflow server did not answer on {self.url} within {wait_s:.0f} s"
                            + self._log_hint())

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers; wait for the port."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        self._signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=timeout_s)
        self._signal_group(proc, signal.SIGKILL)  # stray workers of the group, if any

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # the group we created with start_new_session
        except (ProcessLookupError, PermissionError):
            pass

    def _log_hint(self) -> str:
        return f" (see {self.log_path})" if self.log_path else ""

    def __enter__(self) -> "MlflowServer":
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
