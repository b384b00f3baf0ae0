"""Pre-started job processes (orchestrator/workers/launch.py, standby.py): real processes, real
training on synthetic data, a real MLflow store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator import queue
from orchestrator.queue.store import open_store
from orchestrator.workers.launch import Launcher

from _orch_helpers import smoke_spec, write_spec


def _timing(metric: str) -> bool:
    """Wall-clock figures (throughputs, durations, the idle gap): they differ run to run."""
    return metric.endswith(("_per_s", "_time")) or metric in ("slot_idle_s", "job_startup_s")


def _standbys(marker: str) -> list[int]:
    """Live pre-started processes whose command line mentions ``marker`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in cmdline]
        if "orchestrator.workers.standby" in words and state != "Z" and \
                any(marker in w for w in words):
            found.append(int(entry))
    return found


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _submit(db_url: str, project: Path, data: Path, *, epochs: int, decoders: list[str]) -> None:
    from orchestrator.specs import expand, load_spec

    path = write_spec(project, "pre.yaml", smoke_spec("pre", "pre", dataset_dir=str(data),
                                                      epochs=epochs,
                                                      grid={"decoder": decoders}))
    spec = load_spec(path, project_dir=project)
    queue.submit(open_store(db_url), [(spec, expand(spec))])


@pytest.fixture
def job_env(monkeypatch, synthetic_dataset: Path, tmp_path: Path) -> Path:
    """One thread per job (the same arithmetic in every process), state under tmp_path."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("REGSEG_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("REGSEG_DATA_ROOTS", str(synthetic_dataset))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return synthetic_dataset


def _run_sweep(root: Path, data: Path, *, prestart: bool, epochs: int = 1,
               decoders=("decoder14", "decoder26"), watch: str | None = None):
    """A worker (one CPU slot, in a thread) over a fresh queue; returns (worker, mlflow uri,
    the standby pids seen while it ran)."""
    from orchestrator.workers.supervision import Slot, Worker, WorkerOptions

    project = root / "project"
    (project / "experiments").mkdir(parents=True)
    db = f"sqlite:///{root / 'q.db'}"
    _submit(db, project, data, epochs=epochs, decoders=list(decoders))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    options = WorkerOptions(exit_when_empty=True, poll_seconds=0.1, tracking_uri=uri,
                            state_dir=root / "state", prestart=prestart, sample_images=False)
    worker = Worker(open_store(db), [Slot("cpu0", "")], options)
    seen: set[int] = set()
    thread = threading.Thread(target=worker.run)  # not the main thread: no signal handlers
    thread.start()
    while thread.is_alive():
        seen.update(_standbys(watch or str(root)))
        time.sleep(0.1)
    return worker, uri, seen, db


def _runs(uri: str) -> dict[str, object]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("regseg/pre")
    runs = {}
    for run in client.search_runs([experiment.experiment_id]):
        if run.data.tags.get("regseg.arm_parent") == "true":
            continue
        history = {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id,
                                                                               key)]
                   for key in run.data.metrics if not _timing(key)}
        runs[run.data.tags["regseg.run_hash"]] = {"params": run.data.params, "metrics": history,
                                                  "status": run.info.status,
                                                  "all_metrics": set(run.data.metrics)}
    return runs


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_prestarted_process_runs_the_next_job_exactly_like_a_fresh_one(job_env: Path,
                                                                       tmp_path: Path):
    fresh, fresh_uri, fresh_seen, _ = _run_sweep(tmp_path / "fresh", job_env, prestart=False)
    pre, pre_uri, pre_seen, pre_db = _run_sweep(tmp_path / "pre", job_env, prestart=True)
    assert [o for _, o in fresh.finished] == [o for _, o in pre.finished] == ["succeeded"] * 2
    assert not fresh_seen and pre_seen  # only the pre-starting worker started standbys
    assert [g.prestarted for g in fresh.idle_gaps] == [False, False]
    assert [g.prestarted for g in pre.idle_gaps] == [False, True]
    second = pre.idle_gaps[1]
    assert second.idle_s is not None and 0 < second.idle_s < second.startup_s + 60
    rows = {r["id"]: r for r in queue.jobs(open_store(pre_db))}
    logs = {i: (Path(r["job_dir"]) / "job.log").read_text() for i, r in rows.items()}
    assert "== pre-started process" not in logs[pre.idle_gaps[0].job_id]
    assert "== pre-started process" in logs[second.job_id]
    a, b = _runs(fresh_uri), _runs(pre_uri)
    assert sorted(a) == sorted(b) and len(a) == 2
    for run_hash in a:
        assert a[run_hash]["status"] == b[run_hash]["status"] == "FINISHED"
        assert a[run_hash]["params"] == b[run_hash]["params"]
        assert a[run_hash]["metrics"] == b[run_hash]["metrics"]  # loss, mIoU, ... bit for bit
        assert "loss" in a[run_hash]["metrics"] and "mIoU" in a[run_hash]["metrics"]
        assert "job_startup_s" in b[run_hash]["all_metrics"]
    (second_hash,) = [r["run_hash"] for r in rows.values() if r["id"] == second.job_id]
    assert "slot_idle_s" in b[second_hash]["all_metrics"]
    assert not list((tmp_path / "pre" / "state" / "standby").glob("*"))  # no pre-logs left


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_unused_prestarted_process_ends_with_the_worker(job_env: Path, tmp_path: Path):
    worker, _, seen, _ = _run_sweep(tmp_path, job_env, prestart=True, decoders=("decoder14",))
    assert worker.finished[0][1] == "succeeded"
    assert seen, "the slot never pre-started the next job's process"
    assert not _standbys(str(tmp_path))  # the worker has returned: nothing left running
    assert not list((tmp_path / "state" / "standby").glob("*"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_of_the_worker_leaves_no_prestarted_process(job_env: Path, tmp_path: Path):
    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    db = f"sqlite:///{tmp_path / 'q.db'}"
    _submit(db, project, job_env, epochs=200, decoders=["decoder14"])  # trains for minutes
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db, "--gpus", "none",
            "--poll-seconds", "0.1", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    with open(tmp_path / "worker.log", "wb") as out:
        worker = subprocess.Popen(argv, cwd=project, stdout=out, stderr=subprocess.STDOUT)
    try:
        (standby,) = _wait_for(lambda: _standbys(str(tmp_path)), 300,
                               "the next job's pre-started process")
        job = queue.jobs(open_store(db))[0]
        assert job["state"] == "running"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    _wait_for(lambda: not _standbys(str(tmp_path)), 30, "the standby to die with its worker")
    _wait_for(lambda: not list((tmp_path / "state" / "standby").glob("*")), 30,
              "the standby's pre-log to be removed")


def _bad_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"dataset_name": "synthetic", "dataset_dir": str(tmp_path / "none"),
                               "epochs": 1, "device": "cpu"}))
    return cfg


@pytest.mark.timeout(300)
def test_a_job_handed_to_a_standby_exits_like_a_fresh_one(tmp_path: Path):
    """Same exit status and error line as test_job_process's fresh job with a missing dataset."""
    cfg = _bad_config(tmp_path)
    launcher = Launcher(state_dir=tmp_path / "state", name="cpu0", prestart=True)
    env = dict(os.environ)
    launcher.prestart(env=env, cwd=str(tmp_path))
    assert launcher.has_standby
    argv = [sys.executable, "-m", "orchestrator.workers.job", "--config", str(cfg), "--out",
            str(tmp_path / "job")]
    results = {}
    for kind in ("standby", "fresh"):
        log = tmp_path / f"{kind}.log"
        launched = launcher.launch(argv, env=env, cwd=str(tmp_path), log_path=log)
        assert launched.prestarted == (kind == "standby")
        results[kind] = (launched.proc.wait(timeout=240), log.read_text())
        os.close(launched.report_fd)
    (rc_standby, log_standby), (rc_fresh, log_fresh) = results["standby"], results["fresh"]
    assert rc_standby == rc_fresh == 2  # a DatasetError: bad input (regseg.exit_codes)
    assert "job: DatasetError:" in log_standby and "job: DatasetError:" in log_fresh
    assert "== pre-started process" in log_standby
    assert not launcher.has_standby and not list((tmp_path / "state" / "standby").glob("*"))


@pytest.mark.timeout(300)
def test_an_unused_standby_is_stopped_by_close_and_by_the_end_of_its_stdin(tmp_path: Path):
    launcher = Launcher(state_dir=tmp_path / "state", name="cpu0", prestart=True)
    launcher.prestart(env=dict(os.environ), cwd=str(tmp_path))
    (pid,) = _wait_for(lambda: _standbys(str(tmp_path)), 60, "the standby")
    launcher.close()  # the slot ends
    assert not _standbys(str(tmp_path)) and not launcher.has_standby
    assert not list((tmp_path / "state" / "standby").glob("*"))
    with open(tmp_path / "prelog", "wb") as out:  # a standby left with its stdin closed
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator.workers.standby",
                                 "--worker-pid", str(os.getpid()), "--prelog",
                                 str(tmp_path / "prelog")], stdin=subprocess.PIPE, stdout=out,
                                stderr=subprocess.STDOUT)
    proc.stdin.close()
    assert proc.wait(timeout=240) == 0
    assert not (tmp_path / "prelog").exists()
