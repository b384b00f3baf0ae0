"""End to end through real processes: `regseg queue` a tiny sweep, a real `regseg worker` trains it
(real `python -m orchestrator.workers.job` subprocesses on synthetic data) into the embedded MLflow
store; one job is killed with SIGKILL mid-run and its next attempt resumes into the same run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _tracking_helpers import history

pytestmark = pytest.mark.slow

SPEC = """\
name: tiny
description: two runs of the smoke setting, one long enough to be killed mid-run
group: e2e
base:
  model_name: exp48_decoder14
  dataset_name: synthetic
  dataset_dir: data/synthetic
  num_classes: 19
  batch_size: 4
  lr: 0.01
  warmup_iters: 2
  mixed_precision: false
  aug_mode: baseline
  class_uniform_pct: 0.0
  train_min_size: 64
  train_max_size: 128
  train_crop_size: [64, 128]
  val_input_size: 64
  val_label_size: 64
  num_workers: 0
  max_eval: 2
  eval_every: 1
  eval_last_k_epochs: 0
  save_every_k_epochs: 0
grid:
  epochs: [2, 5]
"""
EVAL_KEYS = ("mIoU", "mIoU_reduced", "pixel_accuracy", "iou/road", "iou/bicycle")
EPOCH_KEYS = ("loss", "lr", "images_per_s", "epoch_time")


def _job_pid(job_dir: Path) -> int | None:
    """The pid of the `orchestrator.workers.job` process training into ``job_dir`` (our
    grandchild)."""
    needle = str(job_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"orchestrator.workers.job" in cmd and needle in cmd.split(b"\0"):
            return int(entry.name)
    return None


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_mid_run(job_dir: Path, *, after_epochs: int, deadline: float) -> int:
    """SIGKILL the job once it reported ``after_epochs`` epochs; returns the epochs reported."""
    while time.monotonic() < deadline:
        seen = _lines(job_dir / "metrics.jsonl")
        pid = _job_pid(job_dir)
        if seen >= after_epochs and pid is not None:
            os.kill(pid, signal.SIGKILL)
            return seen
        time.sleep(0.05)
    raise AssertionError(f"job in {job_dir} never reached epoch {after_epochs}")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from regseg.data.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("e2e")
    project, state = root / "project", root / "state"
    (project / "experiments").mkdir(parents=True)
    make_synthetic(project / "data" / "synthetic", train=4, val=2, size=(64, 128), seed=0)
    (project / "experiments" / "tiny.yaml").write_text(SPEC)
    db = f"sqlite:///{state / 'queue.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update({"REGSEG_HOME": str(state), "PYTHONUNBUFFERED": "1",
                "OMP_NUM_THREADS": "1"})
    env.pop("REGSEG_NO_LOG_CHECKPOINTS", None)
    regseg = [sys.executable, "-m", "regseg"]
    subprocess.run([*regseg, "queue", "experiments/tiny.yaml", "--project-dir", str(project),
                    "--db", db], cwd=project, env=env, check=True, timeout=120)
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    jobs = {row["label"]: row for row in queue.jobs(open_store(db))}
    long_dir = state / "jobs" / str(jobs["epochs=5"]["id"])
    with open(root / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [*regseg, "worker", "--db", db, "--gpus", "none", "--cpu-slots", "2",
             "--exit-when-empty", "--poll-seconds", "0.2", "--lease-seconds", "30",
             "--no-log-checkpoints"],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            killed_at = _kill_mid_run(long_dir, after_epochs=1, deadline=time.monotonic() + 300)
            assert worker.wait(timeout=400) == 0, (root / "worker.log").read_text()[-3000:]
        finally:
            if worker.poll() is None:
                worker.kill()
    rows = {row["label"]: row for row in queue.jobs(open_store(db))}
    return {"state": state, "db": db, "jobs": rows, "killed_at": killed_at, "long_dir": long_dir,
            "log": root / "worker.log"}


def _client(state: Path):
    from orchestrator.tracking.store import make_client

    return make_client(f"sqlite:///{state / 'mlflow.db'}")


def test_sweep_creates_one_complete_run_per_job(sweep):
    client = _client(sweep["state"])
    exp = client.get_experiment_by_name("regseg/e2e")
    found = client.search_runs([exp.experiment_id])
    arms = {r.data.tags["regseg.config_label"]: r for r in found
            if r.data.tags.get("regseg.arm_parent") == "true"}
    runs = [r for r in found if r.info.run_id not in {a.info.run_id for a in arms.values()}]
    assert len(runs) == 2, sweep["log"].read_text()[-3000:]
    by_id = {r.info.run_id: r for r in runs}
    for label, job in sweep["jobs"].items():
        assert job["state"] == "succeeded", job
        run = by_id[job["mlflow_run_id"]]
        epochs = int(label.split("=")[1])
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert tags["regseg.job_id"] == str(job["id"])
        assert tags["regseg.spec"] == "tiny" and tags["regseg.group"] == "e2e"
        assert tags["regseg.config_label"] == label
        assert tags["regseg.model"] == "exp48_decoder14" and tags["regseg.device"] == "cpu"
        assert run.data.params["epochs"] == str(epochs)
        # one arm per configuration, closed with its only seed, holding that seed's best value
        assert run.info.run_name == f"exp48_decoder14 {label} · s{run.data.params['seed']}"
        arm = arms[label]
        assert tags["mlflow.parentRunId"] == arm.info.run_id and arm.info.status == "FINISHED"
        assert arm.data.metrics["best_mIoU_reduced_n"] == 1
        assert arm.data.metrics["best_mIoU_reduced"] == run.data.metrics["best_mIoU_reduced"]
        assert run.data.params["model_params"] == "3368023"
        assert run.data.params["model_gflops"] == "35.88"
        for key in (*EPOCH_KEYS, *EVAL_KEYS):
            assert [s for s, _ in history(client, run.info.run_id, key)] == list(range(epochs)), key
        assert [s for s, _ in history(client, run.info.run_id, "best_mIoU")] == [epochs - 1]
        arts = {a.path for a in client.list_artifacts(run.info.run_id, "confusion_matrix")}
        assert arts == {"confusion_matrix/confusion_matrix.csv",
                        "confusion_matrix/confusion_matrix.png"}
        # --no-log-checkpoints: the path only
        assert not client.list_artifacts(run.info.run_id, "checkpoints")
        assert tags["regseg.best_checkpoint"].endswith("checkpoints/best.pt")
        # provenance of code, environment and data, and the spec's content hash
        assert len(tags["regseg.spec_hash"]) == 64
        assert tags["regseg.provenance.dataset_fingerprint"].startswith("sha256:")
        assert tags["regseg.provenance.gpu"] == "cpu" and tags["regseg.provenance.torch"]
        # the best epoch's sample predictions, one PNG per fixed validation index
        samples = [a.path for a in client.list_artifacts(run.info.run_id, "predictions")]
        assert samples and all(p.startswith("predictions/sample_") for p in samples), samples
    # the outcome is in the queue row, equal to what MLflow holds
    for job in sweep["jobs"].values():
        run = client.get_run(job["mlflow_run_id"])
        assert job["best_miou_reduced"] == pytest.approx(run.data.metrics["best_mIoU_reduced"])
        assert job["best_epoch"] == int(run.data.metrics["best_epoch"])


def test_kill_9_then_resume_appends_each_epoch_once_to_the_same_run(sweep):
    job = sweep["jobs"]["epochs=5"]
    assert 1 <= sweep["killed_at"] < 5
    assert job["state"] == "succeeded" and job["attempts"] == 1, job  # one failed attempt
    assert f"job {job['id']} exited with -9" in sweep["log"].read_text()
    client = _client(sweep["state"])
    run = client.get_run(job["mlflow_run_id"])
    assert run.data.tags["regseg.attempt"] == "2"
    for key in (*EPOCH_KEYS, *EVAL_KEYS):
        assert [s for s, _ in history(client, run.info.run_id, key)] == list(range(5)), key
    # The engine's own record shows what MLflow was spared: the resumed attempt re-ran (and
    # re-reported) every epoch after the last checkpoint.
    reported = _lines(sweep["long_dir"] / "metrics.jsonl")
    assert reported >= 5
    assert (sweep["long_dir"] / "mlflow_buffer.jsonl").stat().st_size == 0
