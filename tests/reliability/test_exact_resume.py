"""Exact resume of real processes with data-loader workers (num_workers = 2): a `regseg train
--out DIR` (SIGTERM to its process group) and a worker's job (SIGTERM to the job process, as the
worker sends it) are stopped mid-epoch (exit 75), resumed, killed mid-epoch with SIGKILL,
resumed again and finished. Every epoch's metrics (each line a run wrote, repeated epochs
included) and the final weights equal an uninterrupted run's bit for bit (CPU, one thread:
deterministic)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from storm import data_roots, running_jobs, storm_env

from tests.orchestrator._orch_helpers import smoke_spec

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(600)]

EPOCHS = 3
# timing-only metrics; every other value of an epoch must repeat exactly after a resume
TIMING_KEYS = {"images_per_s", "epoch_time", "eval_time", "eval_images_per_s"}


def _epoch_of(path: Path) -> int:
    """The epoch ``last.pt`` holds; -2 while it does not exist or is being replaced."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:
        return -2


def _wait_for_epoch(last: Path, epoch: int, alive, *, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while _epoch_of(last) < epoch and alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _epoch_of(last) >= epoch, f"{last} never reached epoch {epoch}"


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _exact(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING_KEYS}


def assert_same_as_reference(out: Path, reference: Path) -> None:
    want = {row["epoch"]: _exact(row) for row in _rows(reference)}
    assert sorted(want) == list(range(EPOCHS))
    got = _rows(out)
    assert {row["epoch"] for row in got} == set(want)
    for row in got:  # an epoch trained twice (killed before its checkpoint) repeats exactly
        assert _exact(row) == want[row["epoch"]], row["epoch"]
    mine = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    theirs = torch.load(reference / "checkpoints" / "last.pt", map_location="cpu",
                        weights_only=True)
    assert mine["epoch"] == theirs["epoch"] == EPOCHS - 1
    unequal = [k for k in theirs["model"] if not torch.equal(mine["model"][k], theirs["model"][k])]
    assert not unequal, f"weights differ from the uninterrupted run: {unequal[:3]}"


@pytest.fixture(scope="module")
def case(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """(project with the one-run spec, its resolved config file, the uninterrupted run's dir,
    environment)."""
    from orchestrator.specs import expand, load_spec

    root = tmp_path_factory.mktemp("exact_resume")
    spec = root / "project" / "experiments" / "resume.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(smoke_spec("resume", "reliability", dataset_dir=str(synthetic_dataset),
                               epochs=EPOCHS, num_workers=2, batch_size=2,
                               model_name="exp30_decoder14"))
    with data_roots(synthetic_dataset):
        (run,) = expand(load_spec(spec, project_dir=spec.parents[1]))
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(run.config.model_dump(mode="json")))
    env = storm_env(root, synthetic_dataset)
    reference = root / "reference"
    done = subprocess.run(_train_argv(config, reference), env=env, capture_output=True,
                          text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return spec, config, reference, env


def _train_argv(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "regseg", "train", "--config", str(config), "--out", str(out),
            "--no-progress", "--threads", "1", "--format", "json"]


def test_regseg_train_resumes_exactly_after_sigterm_and_sigkill(case, tmp_path: Path):
    _, config, reference, env = case
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"

    def start() -> subprocess.Popen:  # its own process group, with its loader workers
        return subprocess.Popen(_train_argv(config, out), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    first = start()
    _wait_for_epoch(last, 0, lambda: first.poll() is None)
    # to the whole group, as a terminal or SLURM sends it: the loader workers get it too (the
    # worker's job below gets it alone, as the worker sends it)
    os.killpg(first.pid, signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 75, stderr[-3000:]
    assert "stopped during epoch" in stderr, stderr[-3000:]
    stopped_at = _epoch_of(last)
    assert 0 <= stopped_at < EPOCHS - 1

    second = start()
    _wait_for_epoch(last, stopped_at + 1, lambda: second.poll() is None)
    second.kill()
    second.communicate(timeout=60)
    assert second.returncode == -signal.SIGKILL
    assert _epoch_of(last) < EPOCHS - 1, "killed too late: the run had already finished"

    third = start()
    stdout, stderr = third.communicate(timeout=300)
    assert third.returncode == 0, stderr[-3000:]
    assert json.loads(stdout)["epochs_completed"] == EPOCHS
    assert [r["epoch"] for r in _rows(out)].count(0) == 1  # both restarts resumed, none began anew
    assert_same_as_reference(out, reference)


def test_a_workers_job_resumes_exactly_after_sigterm_and_sigkill(case, tmp_path: Path):
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    spec, _, reference, env = case
    db_url = f"sqlite:///{tmp_path / 'queue.db'}"
    with data_roots(Path(env["REGSEG_DATA_ROOTS"])):
        loaded = load_spec(spec, project_dir=spec.parents[1])
        queue.submit(open_store(db_url), [(loaded, expand(loaded))], max_attempts=3)
    (job,) = queue.jobs(open_store(db_url))
    env = {**env, "REGSEG_HOME": str(tmp_path / "state")}
    last = tmp_path / "state" / "jobs" / str(job["id"]) / "checkpoints" / "last.pt"
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db_url, "--gpus", "none",
            "--no-tracking", "--exit-when-empty", "--poll-seconds", "0.2",
            "--lease-seconds", "30"]
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            alive = lambda: worker.poll() is None  # noqa: E731
            _wait_for_epoch(last, 0, alive)
            first = _job_process(worker.pid)
            os.kill(first, signal.SIGTERM)
            _wait_for_epoch(last, 0, alive)
            second = _job_process(worker.pid, not_pid=first)  # the requeued job, resumed
            stopped_at = _epoch_of(last)
            _wait_for_epoch(last, stopped_at + 1, alive)
            os.kill(second, signal.SIGKILL)
            assert _epoch_of(last) < EPOCHS - 1, "killed too late: the job had already finished"
            assert worker.wait(timeout=400) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    worker_log = (tmp_path / "worker.log").read_text()
    (row,) = queue.jobs(open_store(db_url))
    assert row["state"] == "succeeded", worker_log[-3000:]
    outcomes = [a["outcome"] for a in queue.attempts_of(open_store(db_url), [row["id"]])[row["id"]]]
    assert outcomes == ["interrupted", "failed", "succeeded"], (outcomes, worker_log[-3000:])
    assert row["attempts"] == 1  # only the SIGKILL counts against the job; the stop does not
    assert [r["epoch"] for r in _rows(last.parents[1])].count(0) == 1
    assert_same_as_reference(last.parents[1], reference)


def _job_process(worker_pid: int, *, not_pid: int | None = None, timeout: float = 120) -> int:
    """The worker's (only) job process, other than ``not_pid``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [pid for pid in running_jobs(worker_pid) if pid != not_pid]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"worker {worker_pid} started no job process")
