"""Helpers shared by the tracking tests (imported as a plain module)."""

from __future__ import annotations


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every logged point of ``key``, sorted by step (duplicates kept)."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for info in client.list_artifacts(run_id, path):
        out |= artifact_paths(client, run_id, info.path) if info.is_dir else {info.path}
    return out


def epoch_metrics(epoch: int, *, evaluated: bool = True) -> dict[str, float]:
    """A metrics dict shaped like the engine's (docs/CONTRACTS.md), values derived from epoch."""
    from regseg.data import CITYSCAPES_CLASSES

    metrics = {"loss": 2.0 - 0.1 * epoch, "lr": 0.05 * (1 - epoch / 10),
               "images_per_s": 100.0 + epoch, "epoch_time": 1.5}
    if evaluated:
        metrics.update({"mIoU": 10.0 + epoch, "mIoU_reduced": 11.0 + epoch, "pixel_accuracy": 50.0})
        metrics.update({f"iou/{name}": float(i + epoch)
                        for i, name in enumerate(CITYSCAPES_CLASSES)})
    return metrics


def unreachable_uri() -> str:
    from orchestrator.tracking.server import free_port

    return f"http://127.0.0.1:{free_port()}"


class UiServer:
    """`regseg ui` as a subprocess: the real `mlflow server` the HTTP tests log to.

    ``start()`` waits for the printed URL and a healthy /health; ``stop()`` sends SIGTERM to the
    `regseg ui` process (which stops its server) and waits for it to exit.
    """

    def __init__(self, *, tracking_uri: str, home, port: int, log_path) -> None:
        self.tracking_uri, self.home, self.port, self.log_path = tracking_uri, home, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.printed_url = None
        self.printed: dict[str, str] = {}

    def start(self, wait_s: float = 180.0) -> "UiServer":
        import os
        import subprocess
        import sys
        import time
        from pathlib import Path

        regseg = Path(sys.executable).with_name("regseg")
        env = {**os.environ, "REGSEG_HOME": str(self.home)}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.proc = subprocess.Popen(
            [str(regseg), "ui", "--port", str(self.port), "--tracking-uri", self.tracking_uri],
            stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"), text=True, env=env)
        deadline = time.monotonic() + wait_s
        line = self.proc.stdout.readline()  # printed once the server answers
        assert line.startswith("MLflow UI: "), (line, Path(self.log_path).read_text()[-2000:])
        self.printed_url = line.split()[2]
        # then "Runs of <experiment>: <url>" (when the store has one) and "All experiments: <url>"
        self.printed = {}
        while not self.printed.get("All experiments"):
            what, _, url = self.proc.stdout.readline().strip().rpartition(": ")
            assert what, Path(self.log_path).read_text()[-2000:]
            self.printed[what] = url
        while time.monotonic() < deadline and not self.healthy():
            time.sleep(0.2)
        return self

    def healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> int:
        import signal

        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
        proc.stdout.close()
        return status

    def log_batch_requests(self) -> int:
        from pathlib import Path

        return Path(self.log_path).read_text().count("POST /api/2.0/mlflow/runs/log-batch")
