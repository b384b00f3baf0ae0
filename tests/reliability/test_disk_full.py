"""Disk full on a job's directory: a small tmpfs mounted on one job's directory fills up while
that job writes its epoch-1 checkpoint. The job fails with a reason naming the disk space
(ENOSPC) in its queue row and its job log, its epoch-0 checkpoints stay loadable, the queue
database (outside the tmpfs) stays intact, and the next job of the same worker succeeds.

Needs root (``mount -t tmpfs``): skipped otherwise; under CI=true a mount that fails is a test
failure, not a skip.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from storm import data_roots, storm_env

from tests.orchestrator._orch_helpers import smoke_spec

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(300)]

MODEL = "exp30_decoder14"


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int):
    """A tmpfs of ``size_bytes`` mounted on ``path`` meanwhile (unmounted on the way out)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        message = f"mount -t tmpfs failed: {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def checkpoint_sizes(num_classes: int = 19) -> tuple[int, int]:
    """Bytes of the initial checkpoint (weights only: SGD's momentum buffers do not exist before
    the first step) and of an end-of-epoch one (weights + one momentum buffer per parameter)."""
    from regseg.models import build_model

    model = build_model(MODEL, num_classes=num_classes)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    weights = buffer.tell()
    momentum = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return weights, weights + momentum


def submit(db_url: str, project: Path, data: Path) -> tuple[dict, dict]:
    """Two single-run specs: the first (3 epochs) will fill its disk, the second (2) will not."""
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    (project / "experiments").mkdir(parents=True)
    batches = []
    for name, epochs in (("full", 3), ("other", 2)):
        path = project / "experiments" / f"{name}.yaml"
        path.write_text(smoke_spec(name, "diskfull", dataset_dir=str(data), epochs=epochs,
                                   model_name=MODEL))
        with data_roots(data):
            spec = load_spec(path, project_dir=project)
            batches.append((spec, expand(spec)))
    queue.submit(open_store(db_url), batches, max_attempts=1)
    full, other = queue.jobs(open_store(db_url))
    return full, other


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_a_full_disk_fails_its_job_clearly_and_keeps_everything_else(synthetic_dataset: Path,
                                                                     tmp_path: Path):
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    db_path = tmp_path / "queue.db"
    db_url = f"sqlite:///{db_path}"
    full, other = submit(db_url, tmp_path / "project", synthetic_dataset)
    env = storm_env(tmp_path, synthetic_dataset)
    job_dir = tmp_path / "state" / "jobs" / str(full["id"])
    initial, per_epoch = checkpoint_sizes()
    # epoch 0 needs best + last.prev (initial) + last = initial + 2 x per_epoch at its peak;
    # epoch 1 one more per_epoch (the new file is written before the old one is replaced)
    size = initial + 2 * per_epoch + per_epoch // 2
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db_url, "--gpus", "none",
            "--no-tracking", "--exit-when-empty", "--poll-seconds", "0.2"]
    with tmpfs(job_dir, size):
        with open(tmp_path / "worker.log", "wb") as log:
            worker = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=240)
        worker_log = (tmp_path / "worker.log").read_text()
        assert worker.returncode == 0, worker_log[-3000:]

        rows = {r["id"]: r for r in queue.jobs(open_store(db_url))}
        failed = rows[full["id"]]
        assert failed["state"] == "failed", (failed, worker_log[-3000:])
        error = queue.job_error(open_store(db_url), full["id"])
        for reason in (failed["exit_reason"], error):
            assert "No space left on device (ENOSPC)" in reason, reason
            assert f"cannot write checkpoint {job_dir}/checkpoints/" in reason, reason
        job_log = (job_dir / "job.log").read_text()
        assert "No space left on device (ENOSPC)" in job_log, job_log[-3000:]
        assert "Traceback" not in job_log, job_log[-3000:]  # one clear line, not a stack

        checkpoints = job_dir / "checkpoints"
        assert sorted(p.name for p in checkpoints.iterdir()) == [
            "best.pt", "last.prev.pt", "last.pt"]  # no temporary file left behind
        last, previous = load(checkpoints / "last.pt"), load(checkpoints / "last.prev.pt")
        assert last["epoch"] == 0 and previous["epoch"] == -1  # the last good epoch, the one before
        assert load(checkpoints / "best.pt")["epoch"] == 0
        from regseg.engine.checkpoint import load_resume

        payload, path = load_resume(checkpoints)
        assert path.name == "last.pt" and payload["epoch"] == 0
        metrics = (job_dir / "metrics.jsonl").read_text().splitlines()
        assert len(metrics) == 2  # epochs 0 and 1 trained; only epoch 1's checkpoint failed

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = rows[other["id"]]
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 0 and failed["attempts"] == 1
    assert load(Path(done["job_dir"]) / "checkpoints" / "last.pt")["epoch"] == 1
