"""What a real job's log says across a stop and a resume (issue 18).

A worker trains a tiny real run; SIGTERM stops it (one "SIGTERM received" line); its newest
checkpoint is then damaged, and the next worker's attempt says once that it falls back to the
previous checkpoint, then "resuming at epoch N from <that checkpoint>", and trains to the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from orchestrator import queue
from orchestrator.queue.store import open_store

from _orch_helpers import smoke_spec


def _spec(epochs: int) -> str:
    return smoke_spec("long", "test", model_name="exp48_decoder26", dataset_dir="data",
                      epochs=epochs, lr=0.05, max_eval=4, eval_every=5, device="cpu")


def _worker(project: Path, db: str, env: dict, **popen) -> subprocess.Popen:
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db, "--gpus", "none",
            "--cpu-slots", "1", "--no-tracking", "--exit-when-empty", "--poll-seconds", "0.2"]
    return subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


@pytest.mark.slow
def test_stop_and_resume_messages_in_a_real_job_log(tmp_path: Path):
    from regseg.data import make_synthetic

    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    make_synthetic(project / "data", train=8, val=4, size=(64, 128), seed=0)
    spec = project / "experiments" / "long.yaml"
    spec.write_text(_spec(14))
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update(REGSEG_HOME=str(project / ".regseg"), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    db = f"sqlite:///{project / '.regseg' / 'queue.db'}"
    done = subprocess.run([sys.executable, "-m", "regseg", "queue", str(spec), "--db", db],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    checkpoints = project / ".regseg" / "jobs" / "1" / "checkpoints"

    first = _worker(project, db, env)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and first.poll() is None:
            if (checkpoints / "last.prev.pt").exists() and _epoch(checkpoints / "last.pt") >= 2:
                break
            time.sleep(0.2)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0
    [job] = queue.jobs(open_store(db, create=False))
    assert job["state"] == "queued", job

    stopped_at = _epoch(checkpoints / "last.prev.pt")
    (checkpoints / "last.pt").write_bytes(b"damaged")  # the fallback is the previous epoch
    second = _worker(project, db, env)
    second.communicate(timeout=600)
    [job] = queue.jobs(open_store(db, create=False))
    assert job["state"] == "succeeded", job

    log = (project / ".regseg" / "jobs" / "1" / "job.log").read_text()
    assert log.count("SIGTERM received") == 1, log
    assert log.count("could not read") == 1, log
    # the checkpoint actually read, once (not last.pt, which was damaged)
    assert log.count("resuming at epoch") == 1, log
    assert f"resuming at epoch {stopped_at + 1} from {checkpoints / 'last.prev.pt'}" in log, log
    # one line per trained epoch (epoch 13, the last, evaluated: its mIoU is on that line)
    epoch_lines = [line for line in log.splitlines() if "epoch 13: " in line]
    assert len(epoch_lines) == 1 and "mIoU " in epoch_lines[0], log
    assert log.count("== attempt 1 ") == 1 and log.count("== attempt 2 ") == 1, log


def _epoch(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # being replaced right now
        return -1
