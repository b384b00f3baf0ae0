"""A pruned Optuna study through the real queue: real worker processes, real Optuna RDB storage,
stream jobs (tests/orchestrator/stream_job.py) reporting prescribed per-epoch metrics through
the queue API, and the real `regseg search` driver killed with SIGKILL and started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _search_helpers import start_workers, stop_workers, stream_job_command

from orchestrator import queue
from orchestrator.queue.store import open_store

SPEC = """\
name: bowl
group: bowl
base: {epochs: 6}
search:
  space:
    lr: {type: float, low: 0.0001, high: 1.0, log: true}
  metric: best_mIoU_reduced
  sampler: {name: random, seed: 3}
  pruner: {name: median, startup_trials: 1}
  trials: 6
  parallel: 2
"""


def _driver(project: Path, db_url: str, storage: str) -> subprocess.Popen:
    env = {**os.environ, "REGSEG_HOME": str(project / ".regseg")}
    argv = [sys.executable, "-m", "regseg", "search", "experiments/bowl.yaml", "--db", db_url,
            "--storage", storage, "--study", "bowl", "--poll-seconds", "0.1",
            "--format", "json"]
    return subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _study(storage: str):
    import optuna

    return optuna.load_study(study_name="bowl", storage=storage)


def _finished_trials(storage: str, store) -> list:
    """Trials the driver has told so far. The study's storage is opened only once the queue
    holds two ended jobs (the driver created it long before): opening a storage that is still
    being created races with its creator on the schema."""
    ended = [j for j in queue.jobs(store) if j["state"] in ("succeeded", "pruned", "failed")]
    if len(ended) < 2:
        return []
    try:
        study = _study(storage)
    except KeyError:  # created, but the study row is not there yet
        return []
    return [t for t in study.get_trials() if t.state.is_finished()]


@pytest.mark.slow
def test_six_trials_two_workers_pruned_resumed_and_reported(project: Path, db_url: str,
                                                            tmp_path: Path):
    (project / "experiments" / "bowl.yaml").write_text(SPEC)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    workers = start_workers(2, db_url, project, tmp_path / "state",
                            command=stream_job_command(epoch_seconds=0.4))
    try:
        driver = _driver(project, db_url, storage)
        deadline = time.monotonic() + 120
        # Kill the driver once two trials are told, mid-study.
        while time.monotonic() < deadline:
            if len(_finished_trials(storage, open_store(db_url))) >= 2:
                break
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        killed_at = len(_study(storage).get_trials())
        assert 2 <= killed_at < 6
        again = _driver(project, db_url, storage)
        out, err = again.communicate(timeout=240)
        assert again.returncode == 0, err
    finally:
        assert stop_workers(workers) == [0, 0]
    trials = _study(storage).get_trials()
    states = [t.state.name for t in trials]
    assert len(trials) == 6 and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert states.count("PRUNED") >= 1
    jobs = {j["id"]: j for j in queue.jobs(open_store(db_url))}
    linked = [t.user_attrs["job_id"] for t in trials]
    # Nothing lost, nothing duplicated: every queued job belongs to a trial, one job per point.
    assert set(linked) == set(jobs)
    assert len(set(linked)) == len({round(t.params["lr"], 12) for t in trials})
    for t in trials:
        job = jobs[t.user_attrs["job_id"]]
        if t.state.name == "PRUNED":
            assert job["state"] == "pruned" and job["pruned_epoch"] is not None
            assert max(t.intermediate_values) == job["pruned_epoch"]
            assert job["pruned_epoch"] < 5  # stopped before its last epoch
        else:
            assert job["state"] == "succeeded"
            assert t.value == pytest.approx(job["best_miou_reduced"])
            assert sorted(t.intermediate_values) == list(range(6))

    report = tmp_path / "study_report"
    env = {**os.environ, "REGSEG_HOME": str(project / ".regseg")}
    done = subprocess.run([sys.executable, "-m", "regseg", "report", "--study", "bowl",
                           "--storage", storage, "--out", str(report)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    for name in ("history.png", "importances.png", "parallel_coordinate.png"):
        assert (report / name).stat().st_size > 5000
    text = (report / "study.md").read_text()
    assert "mlflow_run_id" in text and f"{states.count('PRUNED')} pruned" in text
    assert text.count("| COMPLETE") == states.count("COMPLETE")
