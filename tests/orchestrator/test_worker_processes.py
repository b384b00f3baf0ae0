"""Workers as real processes against both databases: concurrency, kill -9, SIGTERM, failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import open_store
from orchestrator.specs import expand, load_spec

from _orch_helpers import lr_spec, quick_job_env, worker_argv

pytestmark = pytest.mark.timeout(180)


def _submit(db_url: str, project: Path, n: int, **kwargs) -> list[int]:
    spec = load_spec(lr_spec(project, n), project_dir=project)
    queue.submit(open_store(db_url), [(spec, expand(spec))], **kwargs)
    return [j["id"] for j in queue.jobs(open_store(db_url))]


def _start(db_url: str, env: dict, tmp_path: Path, name: str, **kwargs) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "wb")
    return subprocess.Popen(worker_argv(db_url, env=env, **kwargs), env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=tmp_path)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _job_dir(tmp_path: Path, job_id: int) -> Path:
    return tmp_path / "state" / "jobs" / str(job_id)


def test_four_workers_run_200_jobs_exactly_once(db_url: str, project: Path, tmp_path: Path):
    ids = _submit(db_url, project, 200)
    env = quick_job_env(tmp_path)
    procs = [_start(db_url, env, tmp_path, f"w{i}", extra=("--exit-when-empty",)) for i in range(4)]
    for p in procs:
        assert p.wait(timeout=170) == 0
    ledger = (tmp_path / "ledger.txt").read_text().split()
    assert sorted(map(int, ledger)) == ids  # every job ran to the end exactly once
    store = open_store(db_url)
    assert queue.counts(store)["succeeded"] == 200
    rows = queue.jobs(store)
    assert all(r["attempts"] == 0 and r["state"] == "succeeded" for r in rows)
    for r in rows:  # one start per job: nobody ran a job twice, even partially
        assert (Path(r["job_dir"]) / "resumes.txt").read_text() == "1 0\n"
    assert len({r["worker_id"].split("/")[0] for r in rows}) >= 2  # the work was shared


def test_kill_9_worker_job_is_reaped_and_resumes_elsewhere(db_url: str, project: Path,
                                                          tmp_path: Path):
    (job_id,) = _submit(db_url, project, 1)
    env = quick_job_env(tmp_path, steps=12, step_seconds=0.25)
    ckpt = _job_dir(tmp_path, job_id) / "checkpoints" / "last.txt"
    a = _start(db_url, env, tmp_path, "a", lease=2)
    _wait_for(lambda: ckpt.exists() and int(ckpt.read_text() or 0) >= 3, 60, "a checkpoint")
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=10)
    row = queue.jobs(open_store(db_url))[0]
    assert row["state"] == "running"  # nobody told the queue: only the lease can tell
    b = _start(db_url, env, tmp_path, "b", lease=2, extra=("--exit-when-empty",))
    assert b.wait(timeout=90) == 0
    row = queue.jobs(open_store(db_url))[0]
    assert row["state"] == "succeeded"
    # the lost lease is counted as an infrastructure loss, not as one of the job's own failures
    assert (row["attempts"], row["lost_attempts"]) == (0, 1)
    history = queue.attempts_of(open_store(db_url), [job_id])[job_id]
    assert [a["outcome"] for a in history] == ["lost", "succeeded"]
    assert row["worker_id"].split("/")[0] != f"{os.uname().nodename}:{a.pid}"
    starts = [line.split() for line in (ckpt.parents[1] / "resumes.txt").read_text().splitlines()]
    assert starts[0] == ["1", "0"]
    assert starts[1][0] == "2" and int(starts[1][1]) >= 3  # resumed from the checkpoint
    assert ckpt.read_text() == "12"
    assert (tmp_path / "ledger.txt").read_text().split() == [str(job_id)]


def test_sigterm_or_sigint_requeues_running_jobs_without_penalty_then_resume(db_url: str,
                                                                             project: Path,
                                                                             tmp_path: Path):
    ids = _submit(db_url, project, 2)
    env = quick_job_env(tmp_path, steps=60, step_seconds=0.1)
    w = _start(db_url, env, tmp_path, "w", slots=2)
    ckpts = [_job_dir(tmp_path, i) / "checkpoints" / "last.txt" for i in ids]
    _wait_for(lambda: all(c.exists() for c in ckpts), 60, "both jobs to checkpoint")
    # SIGTERM and SIGINT behave alike; each database case exercises one of them
    w.send_signal(signal.SIGTERM if db_url.startswith("sqlite") else signal.SIGINT)
    assert w.wait(timeout=30) == 0
    rows = queue.jobs(open_store(db_url))
    assert [r["state"] for r in rows] == ["queued", "queued"]
    assert [r["attempts"] for r in rows] == [0, 0]
    assert all(r["exit_reason"] == "interrupted: requeued without penalty (exit 75)" for r in rows)
    done_before = [int(c.read_text()) for c in ckpts]
    assert all(0 < d < 60 for d in done_before)
    w2 = _start(db_url, env, tmp_path, "w2", slots=2, extra=("--exit-when-empty",))
    assert w2.wait(timeout=90) == 0
    rows = queue.jobs(open_store(db_url))
    assert [r["state"] for r in rows] == ["succeeded", "succeeded"]
    for c, before in zip(ckpts, done_before):
        second = (c.parents[1] / "resumes.txt").read_text().splitlines()[1].split()
        assert second[0] == "2" and int(second[1]) >= before  # the next attempt resumed


@pytest.mark.parametrize("kill_self, fragment", [(False, "exit status 3: RuntimeError: quick job"),
                                                 (True, "killed by SIGKILL")])
def test_failing_job_is_retried_then_failed_with_reason(db_url: str, project: Path,
                                                       tmp_path: Path, kill_self: bool,
                                                       fragment: str):
    _submit(db_url, project, 1, max_attempts=2)
    env = quick_job_env(tmp_path, exit_code=3, kill_self=kill_self)
    w = _start(db_url, env, tmp_path, "w", extra=("--exit-when-empty",))
    assert w.wait(timeout=60) == 0
    (row,) = queue.jobs(open_store(db_url))
    assert row["state"] == "failed" and row["attempts"] == 2
    assert fragment in row["exit_reason"]
    assert len((Path(row["job_dir"]) / "resumes.txt").read_text().splitlines()) == 2


def test_cancel_stops_a_running_job(db_url: str, project: Path, tmp_path: Path):
    (job_id,) = _submit(db_url, project, 1)
    env = quick_job_env(tmp_path, steps=400, step_seconds=0.1)
    w = _start(db_url, env, tmp_path, "w", lease=6)
    ckpt = _job_dir(tmp_path, job_id) / "checkpoints" / "last.txt"
    _wait_for(ckpt.exists, 60, "the job to start")
    out = subprocess.run([sys.executable, "-m", "regseg", "cancel", str(job_id), "--db", db_url,
                          "--format", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    _wait_for(lambda: "lost (cancelled)" in (tmp_path / "w.log").read_text(), 30,
              "the worker to stop the cancelled job")
    step = int(ckpt.read_text())
    time.sleep(0.5)
    assert int(ckpt.read_text()) == step  # the job process is gone
    w.send_signal(signal.SIGTERM)
    assert w.wait(timeout=30) == 0
    row = queue.jobs(open_store(db_url))[0]
    assert row["state"] == "cancelled" and row["worker_id"] is None  # stopped: hold released
    assert queue.retry(open_store(db_url), job_ids=[job_id]) == [job_id]


def test_gpu_slots_pin_one_gpu_per_job_and_run_side_by_side(db_url: str, project: Path,
                                                            tmp_path: Path):
    ids = _submit(db_url, project, 4)
    env = quick_job_env(tmp_path, steps=4, step_seconds=0.25)
    argv = worker_argv(db_url, extra=("--exit-when-empty",), env=env)
    argv[argv.index("--gpus") + 1] = "0,1"  # two GPU slots (no GPU needed: jobs only read env)
    env["CUDA_VISIBLE_DEVICES"] = "0,1"  # the GPUs this "host" offers
    log = open(tmp_path / "w.log", "wb")
    w = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    assert w.wait(timeout=90) == 0
    rows = queue.jobs(open_store(db_url))
    assert [r["state"] for r in rows] == ["succeeded"] * 4
    seen = {}
    for r in rows:
        slot = r["worker_id"].rsplit("/", 1)[1]
        gpu = (Path(r["job_dir"]) / "cuda_visible_devices.txt").read_text()
        assert slot == f"gpu{gpu}"  # the job saw exactly its slot's GPU
        seen.setdefault(gpu, []).append(r)
    assert sorted(seen) == ["0", "1"]
    first, second = seen["0"][0], seen["1"][0]  # the two slots overlapped in time
    assert (first["started_at"] < second["finished_at"]
            and second["started_at"] < first["finished_at"])
    assert sorted(r["id"] for r in rows) == ids


def test_a_job_that_cannot_start_is_a_failed_attempt(db_url: str, project: Path, tmp_path: Path):
    _submit(db_url, project, 1, max_attempts=1)
    env = quick_job_env(tmp_path)
    env["QUICK_JOB_ARGV"] = '["/nonexistent/python", "{config}"]'
    w = _start(db_url, env, tmp_path, "w", extra=("--exit-when-empty",))
    assert w.wait(timeout=60) == 0
    (row,) = queue.jobs(open_store(db_url))
    assert row["state"] == "failed" and "cannot start the job" in row["exit_reason"]
    assert "/nonexistent/python" in row["exit_reason"]


class _RecordingTracker:
    """Stands in for orchestrator.tracking.Tracker: hands out one run id, records finish_run."""

    tracking_uri = None

    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    def ensure_run(self, job) -> str:
        return f"run{job.id}"

    def fetch_checkpoint(self, run_id, dest_dir) -> bool:
        return False

    def has_history(self, run_id) -> bool:
        return False

    def finish_run(self, run_id, status, error=None, *, out_dir=None) -> None:
        self.finished.append((run_id, status))


def _in_process_worker(db_url: str, tmp_path: Path, env: dict, **options):
    import json

    from orchestrator.workers.supervision import Slot, Worker, WorkerOptions

    opts = WorkerOptions(tracking=False, state_dir=tmp_path / "state", kill_grace_seconds=5,
                         job_command=tuple(json.loads(env["QUICK_JOB_ARGV"])), **options)
    worker = Worker(open_store(db_url), [Slot("cpu0", "")], opts)
    worker.tracker = _RecordingTracker()
    return worker, "test-host:1/cpu0"


def test_a_job_cancelled_before_launch_is_never_started(db_url: str, project: Path,
                                                        tmp_path: Path):
    (job_id,) = _submit(db_url, project, 1)
    worker, wid = _in_process_worker(db_url, tmp_path, quick_job_env(tmp_path))
    job = queue.claim(open_store(db_url), wid, lease_seconds=30)
    queue.cancel(open_store(db_url), job_ids=[job_id])  # between the claim and the launch
    worker._run_job(worker.slots[0], job, wid)
    assert not (_job_dir(tmp_path, job_id) / "resumes.txt").exists()  # never launched
    assert queue.jobs(open_store(db_url))[0]["state"] == "cancelled"


def test_a_lost_job_failed_by_the_reaper_closes_its_mlflow_run(db_url: str, project: Path,
                                                               tmp_path: Path):
    import threading

    from sqlalchemy import update

    from orchestrator.queue.schema import Job, now_plus

    (job_id,) = _submit(db_url, project, 1, max_attempts=1, max_lost_attempts=1)
    env = quick_job_env(tmp_path, steps=400, step_seconds=0.05)
    worker, wid = _in_process_worker(db_url, tmp_path, env, lease_seconds=6)
    store = open_store(db_url)
    job = queue.claim(store, wid, lease_seconds=6)
    t = threading.Thread(target=worker._run_job, args=(worker.slots[0], job, wid))
    t.start()
    ckpt = _job_dir(tmp_path, job_id) / "checkpoints" / "last.txt"
    _wait_for(ckpt.exists, 60, "the job to start")
    with store.session_scope() as s:  # the worker looked dead for a while: its lease ran out
        s.execute(update(Job).values(lease_expires_at=now_plus(-60)))
    assert queue.reap(store) == [(job_id, "failed")]  # max_lost_attempts=1: failed for good
    t.join(timeout=60)
    assert not t.is_alive()
    assert worker.finished == [(job_id, "lost (failed)")]
    assert worker.tracker.finished == [(f"run{job_id}", "FAILED")]  # not left RUNNING
