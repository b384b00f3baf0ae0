"""`regseg slurm` against a real single-node SLURM (tools/with-slurm: munge, slurmctld, slurmd),
real sbatch/squeue/scancel through submitit, a PostgreSQL queue, and real training of the smoke
sweep: a 2-task array drains it; one task is cancelled mid-job and its job is requeued (no
attempt counted) and finished by the other task, resuming from its checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import open_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slurm_cluster() -> str:
    conf = os.environ.get("SLURM_CONF")
    if not conf or shutil.which("sbatch") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no SLURM cluster (SLURM_CONF unset): "
                        "run under tools/with-slurm")
        pytest.skip("no SLURM cluster (run under tools/with-slurm)")
    return conf


def _regseg(*args: str, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "regseg", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _logs(folder: Path) -> str:
    return "".join(p.read_text()[-3000:] for p in sorted(folder.rglob("*.out")))


def _wait(predicate, timeout: float, what: str, *, array_id: str, folder: Path):
    """Poll ``predicate`` until it returns something; fail at once when the array is gone."""
    from orchestrator.slurm import array_tasks

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if not array_tasks(array_id):
            value = predicate()  # the last task may have finished the work as it left
            if value:
                return value
            raise AssertionError(f"the array ended before {what}\n{_logs(folder)}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{_logs(folder)}")


def test_sqlite_is_refused_with_a_clear_error(tmp_path: Path):
    env = {**os.environ, "REGSEG_HOME": str(tmp_path / "state")}
    out = _regseg("slurm", "submit", "--db", f"sqlite:///{tmp_path / 'q.db'}", cwd=tmp_path,
                  env=env)
    assert out.returncode == 2
    assert "is SQLite, a file on this host" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_two_task_array_drains_the_smoke_sweep_and_survives_a_cancelled_task(
        slurm_cluster: str, pg_url: str, synthetic_dataset: Path, tmp_path: Path):
    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    shutil.copy(ROOT / "experiments" / "smoke.yaml", project / "experiments" / "smoke.yaml")
    state = tmp_path / "state"
    env = {**os.environ, "REGSEG_HOME": str(state), "REGSEG_DATA_ROOTS": str(synthetic_dataset)}
    env.pop("MLFLOW_TRACKING_URI", None)
    queued = _regseg("queue", "experiments/smoke.yaml", "--db", pg_url,
                     "--set", f"dataset_dir={synthetic_dataset}", "--set", "epochs=3",
                     cwd=project, env=env)
    assert queued.returncode == 0, queued.stderr
    store = open_store(pg_url)
    assert len(queue.jobs(store)) == 8
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    submitted = _regseg("slurm", "submit", "--tasks", "2", "--cpus-per-task", "1", "--time", "20",
                        "--signal-delay", "30", "--db", pg_url, "--tracking-uri", tracking,
                        "--lease-seconds", "20", "--poll-seconds", "0.5", "--format", "json",
                        cwd=project, env=env)
    assert submitted.returncode == 0, submitted.stderr
    record = json.loads(submitted.stdout)
    array_id, folder = record["array_id"], Path(record["folder"])
    assert record["task_ids"] == [f"{array_id}_0", f"{array_id}_1"]

    def victim():
        """A job of task 0 that has finished at least one epoch (its checkpoint is on disk)."""
        running = queue.jobs(store, states=("running",))
        history = queue.attempts_of(store, [r["id"] for r in running])
        for row in running:
            last = history[row["id"]][-1]
            metrics = Path(row["job_dir"] or "/nonexistent") / "metrics.jsonl"
            if last["slurm_job_id"] == f"{array_id}_0" and metrics.exists() \
                    and metrics.read_text().strip():
                return row["id"]
        return None

    job_id = _wait(victim, 300, "task 0 to train a job past its first epoch",
                   array_id=array_id, folder=folder)
    status = _regseg("slurm", "status", "--db", pg_url, "--format", "json", cwd=project, env=env)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["array_id"] == array_id
    assert {t["task"] for t in shown["tasks"]} >= {f"{array_id}_0"}
    assert any(j["job"] == job_id and j["slurm task"] == f"{array_id}_0"
               for j in shown["running_jobs"])
    cancelled = _regseg("slurm", "cancel", "--task", "0", cwd=project, env=env)
    assert cancelled.returncode == 0, cancelled.stderr

    def drained():
        rows = queue.jobs(store)
        return rows if all(r["state"] in ("succeeded", "failed") for r in rows) else None

    rows = _wait(drained, 500, "the other task to drain the queue", array_id=array_id,
                 folder=folder)
    assert [r["state"] for r in rows] == ["succeeded"] * 8, [r["exit_reason"] for r in rows]
    assert all(r["attempts"] == 0 and r["lost_attempts"] == 0 for r in rows)
    history = queue.attempts_of(store, [job_id])[job_id]
    assert [a["outcome"] for a in history] == ["interrupted", "succeeded"], history
    assert [a["slurm_job_id"] for a in history] == [f"{array_id}_0", f"{array_id}_1"]
    assert history[1]["start_epoch"] >= 1 and history[1]["checkpoint_source"] == "local"
    epochs = [json.loads(line)["epoch"] for line in
              (Path(rows[job_id - 1]["job_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]  # every epoch once, one continuous training
