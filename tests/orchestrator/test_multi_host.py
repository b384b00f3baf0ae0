"""Two "hosts" that share nothing but the PostgreSQL URL and one `mlflow server` with proxied
artifacts on 127.0.0.1: different state and working directories, real workers, real training.
Worker A is killed with SIGKILL after its job has checkpointed epoch >= 1; worker B resumes the
job from the checkpoint copy in the MLflow run (not from epoch 0); the run holds every epoch
exactly once; a `regseg search` driver in a third directory sees the trial's value."""

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

from _orch_helpers import lr_spec, quick_job_env, smoke_spec, worker_argv

EPOCHS = 4



def _host(root: Path, name: str, data: Path) -> tuple[Path, dict]:
    """A host: its own working directory and state directory, nothing shared on disk."""
    home = root / name
    (home / "experiments").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update({"REGSEG_HOME": str(home / "state"), "REGSEG_DATA_ROOTS": str(data),
                "PYTHONUNBUFFERED": "1"})
    return home, env


def _wait(predicate, timeout: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(p.read_text()[-2000:] for p in logs if p.exists())
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_job_moves_to_another_host_through_the_tracking_server(pg_url: str,
                                                                 synthetic_dataset: Path,
                                                                 tmp_path: Path):
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking import tags as T
    from orchestrator.tracking.server import MlflowServer

    server = MlflowServer(backend_store_uri=f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}",
                          artifacts_destination=tmp_path / "server" / "artifacts",
                          log_path=tmp_path / "server.log").start()
    try:
        driver, env_c = _host(tmp_path, "driver", synthetic_dataset)
        (driver / "experiments" / "hosts.yaml").write_text(
            smoke_spec("hosts", "hosts", dataset_dir=str(synthetic_dataset),
                       model_name="exp48_decoder14", epochs=EPOCHS))
        search = [sys.executable, "-m", "regseg", "search", "experiments/hosts.yaml",
                  "--param", "lr=float:0.01:0.03", "--trials", "1", "--parallel", "1",
                  "--db", pg_url, "--poll-seconds", "0.5", "--format", "json"]
        queued = subprocess.run(search + ["--no-wait"], cwd=driver, env=env_c,
                                capture_output=True, text=True, timeout=180)
        assert queued.returncode == 0, queued.stderr
        store = open_store(pg_url)
        (job,) = queue.jobs(store)

        host_a, env_a = _host(tmp_path, "host_a", synthetic_dataset)
        host_b, env_b = _host(tmp_path, "host_b", synthetic_dataset)
        worker = [sys.executable, "-m", "regseg", "worker", "--db", pg_url, "--tracking-uri",
                  server.url, "--gpus", "none", "--lease-seconds", "3", "--poll-seconds", "0.2"]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        a = subprocess.Popen(worker, cwd=host_a, env=env_a, stdout=open(logs[0], "wb"),
                             stderr=subprocess.STDOUT)
        client = MlflowClient(tracking_uri=server.url)

        def checkpointed() -> int | None:
            run_id = queue.jobs(store)[0]["mlflow_run_id"]
            if not run_id:
                return None
            epoch = client.get_run(run_id).data.tags.get(T.RESUME_EPOCH, "")
            return int(epoch) + 1 if epoch and int(epoch) >= 1 else None

        uploaded = _wait(checkpointed, 300, "worker A to upload a checkpoint of epoch >= 1", logs)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        killed_at = time.monotonic()
        b = subprocess.Popen(worker + ["--exit-when-empty"], cwd=host_b, env=env_b,
                             stdout=open(logs[1], "wb"), stderr=subprocess.STDOUT)

        def running_on_b() -> bool:
            history = queue.attempts_of(store, [job["id"]])[job["id"]]
            return len(history) == 2 and history[1]["start_epoch"] is not None

        _wait(running_on_b, 120, "worker B to resume the job", logs)
        resumed_after = time.monotonic() - killed_at
        assert b.wait(timeout=300) == 0, logs[1].read_text()[-3000:]

        (row,) = queue.jobs(store)
        assert row["state"] == "succeeded", row
        assert (row["attempts"], row["lost_attempts"]) == (0, 1)  # a lost host is no failure
        first, second = queue.attempts_of(store, [job["id"]])[job["id"]]
        assert first["outcome"] == "lost" and second["outcome"] == "succeeded"
        assert first["worker_id"] != second["worker_id"]
        assert second["checkpoint_source"] == "tracking"  # B's disk never held A's files
        assert second["start_epoch"] >= uploaded >= 2
        assert Path(row["job_dir"]).is_relative_to(host_b)
        run = client.get_run(row["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        for key in ("loss", "mIoU", "mIoU_reduced"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == list(range(EPOCHS)), (key, steps)  # each epoch exactly once
        assert row["best_miou_reduced"] == pytest.approx(run.data.metrics["best_mIoU_reduced"])

        told = subprocess.run(search, cwd=driver, env=env_c, capture_output=True, text=True,
                              timeout=180)
        assert told.returncode == 0, told.stderr
        (trial,) = json.loads(told.stdout)
        assert trial["state"] == "COMPLETE" and trial["job"] == job["id"]
        assert next(v for k, v in trial.items() if k.startswith("best_mIoU")) == pytest.approx(
            row["best_miou_reduced"])
        print(f"kill -> running on host B: {resumed_after:.1f} s (lease 3 s)")
    finally:
        server.stop()


@pytest.mark.slow
def test_no_checkpoint_anywhere_starts_over_in_a_fresh_run(tmp_path: Path):
    """Host A dies; host B has no local checkpoint and the run holds none (an embedded store
    keeps checkpoints local), but the run already logged an epoch: the attempt starts over in a
    new MLflow run, the old run is closed and marked, and the job log says so."""
    from mlflow.tracking import MlflowClient

    from orchestrator.specs import load_and_expand
    from orchestrator.tracking import tags as T

    db = f"sqlite:///{tmp_path / 'queue.db'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    store = open_store(db)
    queue.submit(store, load_and_expand([lr_spec(project, 1)], project_dir=project))
    env = quick_job_env(tmp_path, steps=400, step_seconds=0.05)
    argv = [a for a in worker_argv(db, lease=2, env=env) if a != "--no-tracking"]
    argv += ["--tracking-uri", tracking]
    env_a = {**env, "REGSEG_HOME": str(tmp_path / "host_a")}
    env_b = {**env, "REGSEG_HOME": str(tmp_path / "host_b")}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    a = subprocess.Popen(argv, env=env_a, cwd=tmp_path, stdout=open(logs[0], "wb"),
                         stderr=subprocess.STDOUT)
    ckpt = tmp_path / "host_a" / "jobs" / "1" / "checkpoints" / "last.txt"
    _wait(ckpt.exists, 120, "host A's job to checkpoint", logs)
    old_run = queue.jobs(store)[0]["mlflow_run_id"]
    client = MlflowClient(tracking_uri=tracking)
    client.log_metric(old_run, "loss", 1.0, step=0)  # the run holds an epoch of history
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=30)
    b = subprocess.run(argv + ["--exit-when-empty"], env=env_b, cwd=tmp_path,
                       capture_output=True, timeout=300)
    assert b.returncode == 0, b.stdout[-3000:]
    (row,) = queue.jobs(store)
    assert row["state"] == "succeeded"
    new_run = row["mlflow_run_id"]
    assert new_run and new_run != old_run
    old, new = client.get_run(old_run), client.get_run(new_run)
    assert old.info.status == "KILLED" and old.data.tags[T.SUPERSEDED_BY] == new_run
    assert T.RESTARTED in new.data.tags and new.info.status == "FINISHED"
    assert not client.get_metric_history(new_run, "loss")  # never mixed with A's history
    first, second = queue.attempts_of(store, [row["id"]])[row["id"]]
    assert (first["outcome"], second["checkpoint_source"]) == ("lost", "none")
    job_log = (tmp_path / "host_b" / "jobs" / "1" / "job.log").read_text()
    assert "starts over in a new MLflow run" in job_log
