"""The prune seam on REAL training: a worker (with MLflow tracking) runs the real job process on
synthetic 64x128 data; the driver's prune request stops it like a SIGTERM stop (checkpoint
written), the job ends ``pruned`` and its MLflow run is tagged with the epoch and closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orchestrator import queue
from orchestrator.queue.pruning import epoch_metrics, request_prune
from orchestrator.queue.store import open_store
from orchestrator.specs import expand, load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_prune_request_stops_real_training_and_tags_the_run(synthetic_dataset: Path,
                                                             tmp_path: Path):
    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    smoke = yaml.safe_load((ROOT / "experiments" / "smoke.yaml").read_text())
    base = {**smoke["base"], "model_name": "exp48_decoder14", "epochs": 3, "max_eval": 4,
            "dataset_dir": str(synthetic_dataset)}
    spec_path = project / "experiments" / "one.yaml"
    spec_path.write_text(yaml.safe_dump({"name": "one", "group": "one", "base": base}))
    env = {**os.environ, "REGSEG_HOME": str(tmp_path / "state"),
           "REGSEG_DATA_ROOTS": str(synthetic_dataset)}
    os.environ["REGSEG_DATA_ROOTS"] = str(synthetic_dataset)
    db = f"sqlite:///{tmp_path / 'q.db'}"
    store = open_store(db)
    spec = load_spec(spec_path, project_dir=project)
    (result,) = queue.submit(store, [(spec, expand(spec))])
    job_id = result.job_ids[0]
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db, "--gpus", "none",
            "--poll-seconds", "0.2", "--lease-seconds", "30", "--exit-when-empty",
            "--no-log-checkpoints", "--no-sample-images"]
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(argv, env=env, cwd=project, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not epoch_metrics(store, [job_id], "mIoU_reduced") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert request_prune(store, job_id, 0) == "running"
    assert worker.wait(timeout=300) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    row = queue.jobs(store)[0]
    job_log = (Path(row["job_dir"]) / "job.log").read_text()
    assert (row["state"], row["pruned_epoch"]) == ("pruned", 0), job_log[-3000:]
    assert "pruned by the search at epoch 0" in job_log
    epochs = [json.loads(line)["epoch"] for line in
              (Path(row["job_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert epochs[-1] < 2  # stopped before the last epoch
    assert (Path(row["job_dir"]) / "checkpoints" / "last.pt").exists()
    from mlflow.tracking import MlflowClient

    run = MlflowClient(f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}").get_run(
        row["mlflow_run_id"])
    assert run.info.status == "KILLED"
    assert run.data.tags["regseg.pruned_epoch"] == "0"
