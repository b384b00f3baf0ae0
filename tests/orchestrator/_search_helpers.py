"""Helpers of the search and adaptive-seeds tests: the stream job seam and its workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STREAM_JOB = HERE / "stream_job.py"


def stream_job_command(*, epoch_seconds: float = 0.2, table: Path | None = None) -> str:
    """``regseg worker --job-command`` JSON running stream_job.py (prescribed metric streams)."""
    argv = ["{python}", str(STREAM_JOB), "--config", "{config}", "--out", "{out}",
            "--db", "{db}", "--job-id", "{job_id}", "--worker-id", "{worker_id}",
            "--worker-pid", "{worker_pid}", "--epoch-seconds", str(epoch_seconds)]
    if table is not None:
        argv += ["--table", str(table)]
    return json.dumps(argv)


def start_workers(n: int, db_url: str, cwd: Path, home: Path, *, command: str,
                  tracking: bool = False, extra: tuple = ()) -> list[subprocess.Popen]:
    """``n`` worker processes, one CPU slot each, running ``command`` jobs (MLflow tracking
    into the embedded store under ``home`` when ``tracking``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update({"REGSEG_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db_url, "--gpus", "none",
            "--cpu-slots", "1", "--lease-seconds", "30", "--poll-seconds", "0.1",
            *([] if tracking else ["--no-tracking"]), "--job-command", command, *extra]
    home.mkdir(parents=True, exist_ok=True)
    logs = [open(home / f"worker{i}.log", "ab") for i in range(n)]
    return [subprocess.Popen(argv, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
            for fh in logs]


def stop_workers(workers: list[subprocess.Popen], timeout: float = 60) -> list[int]:
    import signal

    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    return [w.wait(timeout=timeout) for w in workers]
