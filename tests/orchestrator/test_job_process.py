"""`python -m orchestrator.workers.job` and a worker on REAL training (synthetic data, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import open_store

from _orch_helpers import write_spec


def test_job_reports_errors_with_their_exit_code(tmp_path: Path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"dataset_name": "synthetic", "dataset_dir": str(tmp_path / "none"),
                               "epochs": 1, "device": "cpu"}))
    out = subprocess.run([sys.executable, "-m", "orchestrator.workers.job", "--config", str(cfg),
                          "--out", str(tmp_path / "job")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2  # a DatasetError: bad input (regseg.exit_codes)
    assert "job: DatasetError:" in out.stderr


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_worker_sigterm_checkpoints_real_training_and_resumes(synthetic_dataset: Path,
                                                              tmp_path: Path):
    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    smoke = Path(__file__).resolve().parents[2] / "experiments" / "smoke.yaml"
    spec = write_spec(project, "smoke.yaml", smoke.read_text())
    db = f"sqlite:///{tmp_path / 'q.db'}"
    env_home = {"REGSEG_HOME": str(tmp_path / "state"), "REGSEG_DATA_ROOTS": str(synthetic_dataset)}
    env = {**{k: v for k, v in os.environ.items() if k != "QUICK_JOB_ARGV"}, **env_home}
    sub = subprocess.run([sys.executable, "-m", "regseg", "queue", str(spec), "--db", db,
                          "--set", f"dataset_dir={synthetic_dataset}", "--set", "epochs=2",
                          "--set", "batch_size=8", "--set", "max_eval=4"],
                         capture_output=True, text=True, cwd=project, env=env, timeout=120)
    assert sub.returncode == 0, sub.stderr
    assert queue.cancel(open_store(db), job_ids=range(2, 9)) == list(range(2, 9))  # keep one
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db, "--gpus", "none",
            "--no-tracking", "--poll-seconds", "0.2", "--lease-seconds", "20"]
    log = open(tmp_path / "worker.log", "wb")
    w = subprocess.Popen(argv, env=env, cwd=project, stdout=log, stderr=subprocess.STDOUT)
    metrics = tmp_path / "state" / "jobs" / "1" / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.exists() and metrics.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metrics.exists() and metrics.read_text().strip(), \
        "no epoch finished in 300 s:\n" + (tmp_path / "worker.log").read_text()[-2000:]
    w.send_signal(signal.SIGTERM)
    assert w.wait(timeout=200) == 0
    row = queue.jobs(open_store(db))[0]
    assert (row["state"], row["attempts"]) == ("queued", 0), (tmp_path / "worker.log").read_text()
    assert "interrupted" in row["exit_reason"] and "(exit 75)" in row["exit_reason"]
    w2 = subprocess.run(argv + ["--exit-when-empty"], env=env, cwd=project, capture_output=True,
                        timeout=300)
    assert w2.returncode == 0
    row = queue.jobs(open_store(db))[0]
    assert row["state"] == "succeeded", (Path(row["job_dir"]) / "job.log").read_text()[-2000:]
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == [0, 1]  # resumed after epoch 0; no epoch trained twice
    assert (Path(row["job_dir"]) / "checkpoints" / "last.pt").exists()
