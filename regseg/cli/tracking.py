"""`regseg ui`: the MLflow UI for this project's tracking store, on 127.0.0.1 by default.

Prints the server's URL, then the runs table of the most recent experiment (in the UI's "Model
training" mode) and the list of experiments.
"""

from __future__ import annotations

from typing import Optional

import typer


def ui(
    port: int = typer.Option(5000, "--port", "-p", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Interface to bind; keep 127.0.0.1 unless you mean to share it."),
    tracking_uri: Optional[str] = typer.Option(
        None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
        help="Store to show (default: sqlite:///<state>/mlflow.db, "
        "state = $REGSEG_HOME or ./.regseg)."),
    wait_s: float = typer.Option(120.0, "--wait", help="Seconds to wait for the server to answer."),
) -> None:
    """Start the MLflow UI (`mlflow server`) for the tracking store and print where to look."""
    import signal
    import threading

    from orchestrator.errors import TrackingError
    from orchestrator.tracking.server import LOOPBACK_HOSTS, MlflowServer
    from orchestrator.tracking.store import default_artifact_root, is_remote, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if is_remote(uri):
        raise TrackingError(f"{uri} is already a tracking server: open it in a browser")
    root = default_artifact_root()
    root.mkdir(parents=True, exist_ok=True)
    server = MlflowServer(backend_store_uri=uri, host=host, port=port,
                          default_artifact_root=root.as_uri(), artifacts_destination=root)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if host not in LOOPBACK_HOSTS:
        typer.echo(f"warning: the MLflow UI has no authentication: anyone who can reach "
                   f"{host}:{port} can read, change and delete every run in {uri}", err=True)
    try:
        server.start(wait_s=wait_s)
        typer.echo(f"MLflow UI: {server.url}  (store {uri}; Ctrl-C to stop)")
        for line in _where_to_look(uri, server.url):
            typer.echo(line)
        while not stop.wait(0.5):
            if server.process is None or server.process.poll() is not None:
                raise TrackingError(f"mlflow server exited with status "
                                    f"{server.process.returncode if server.process else '?'}")
    finally:
        server.stop()


def _where_to_look(tracking_uri: str, base_url: str) -> list[str]:
    """The runs table of the most recent experiment and the experiments list (printed lines)."""
    from orchestrator.tracking.server import experiments_url, latest_experiment, runs_view_url
    from orchestrator.tracking.store import make_client

    lines = []
    latest = latest_experiment(make_client(tracking_uri))
    if latest is not None:
        lines.append(f"Runs of {latest.name}: {runs_view_url(base_url, latest.experiment_id)}")
    lines.append(f"All experiments: {experiments_url(base_url)}")
    return lines


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
