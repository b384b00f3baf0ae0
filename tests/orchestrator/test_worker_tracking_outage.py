"""A tracking store that cannot be reached when a job's MLflow run is set up is not the job's
failure (issue 19): the job goes back to the queue with no attempt counted, and the slot waits
before it claims again (tests/reliability/test_tracking_down.py proves it under a storm)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import open_store
from orchestrator.specs import expand, load_spec

from _orch_helpers import lr_spec, quick_job_env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_tracking_store_requeues_the_job_uncounted(
        db_url: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from orchestrator.tracking import Tracker
    from orchestrator.workers.run_tracking import TrackingUnavailable
    from orchestrator.workers.supervision import Slot, Worker, WorkerOptions

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    spec = load_spec(lr_spec(project, 1), project_dir=project)
    store = open_store(db_url)
    queue.submit(store, [(spec, expand(spec))], max_attempts=1)  # one own failure = failed
    env = quick_job_env(tmp_path)
    opts = WorkerOptions(tracking=False, state_dir=tmp_path / "state", kill_grace_seconds=5,
                         job_command=tuple(json.loads(env["QUICK_JOB_ARGV"])))
    worker = Worker(store, [Slot("cpu0", "")], opts)
    worker.tracker = Tracker(f"http://127.0.0.1:{_closed_port()}")
    wid = "test-host:1/cpu0"
    job = queue.claim(store, wid, lease_seconds=30)
    with pytest.raises(TrackingUnavailable, match="127.0.0.1"):
        worker._run_job(worker.slots[0], job, wid)
    (row,) = queue.jobs(store)
    assert (row["state"], row["attempts"], row["lost_attempts"]) == ("queued", 0, 0), row
    assert row["exit_reason"].startswith("tracking store unavailable"), row["exit_reason"]
    assert not (tmp_path / "state" / "jobs" / str(job.id) / "resumes.txt").exists()  # not run
