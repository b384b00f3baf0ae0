"""A training job's start-up: process start -> first training iteration, by phase.

    python benchmarks/bench_job_startup.py [--repeats 3] [--model exp48_decoder14] [--json]

Runs the real job process (``python -m orchestrator.workers.job`` with an MLflow run in a
sqlite store, as a worker launches it) through benchmarks/_startup_probe.py, which stops it
right before the first iteration. Phases (medians over the repeats, seconds):
- ``interpreter``: spawn -> the Python interpreter runs the probe;
- ``imports``: importing the job module;
- ``setup``: logging, signal handlers, the queue store (when given);
- ``tracking_imports``: making the callbacks (MLflow and sample-image imports);
- ``build``: torch and engine imports, config, data loaders, model build, checkpoint (until
  the first callback);
- ``callbacks``: every ``on_train_start`` (MlflowCallback: params incl. the GFLOPs count,
  provenance tags; queue reports), ``mlflow_on_train_start`` that hook alone;
- ``total``: spawn -> first iteration.
``fresh``: a new MLflow run (its params are logged: the GFLOPs figure is counted by the first
repeat and read from the per-code-version cache, regseg.models.complexity_cache, by the next
ones, as by every later job of that architecture); ``resumed``: the run already holds the model
params (a retried attempt), as in a fault storm. Each job here is spawned fresh: the worker's
pre-started processes, which skip ``interpreter`` and the imports, are measured end to end by
benchmarks/bench_slot_idle.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROBE = Path(__file__).resolve().parent / "_startup_probe.py"


def _config(data: Path, model: str) -> dict:
    from regseg.config import TrainConfig

    return TrainConfig(model_name=model, dataset_name="synthetic", dataset_dir=str(data),
                       epochs=2, batch_size=4, lr=0.02, warmup_iters=2, mixed_precision=False,
                       aug_mode="baseline", class_uniform_pct=0.0, train_min_size=64,
                       train_max_size=96, train_crop_size=(64, 128), val_input_size=64,
                       val_label_size=64, num_workers=0, max_eval=8, eval_every=1,
                       eval_last_k_epochs=0, save_every_k_epochs=0).model_dump(mode="json")


def _probe(root: Path, config: Path, tracking_uri: str, run_id: str, i: int) -> dict:
    out = root / f"job{i}"
    result = root / f"startup{i}.json"
    env = {**os.environ, "REGSEG_HOME": str(root / "state"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT), "REGSEG_CACHE_DIR": str(root / "cache")}
    argv = [sys.executable, str(PROBE), "", str(result), "--", "--config", str(config),
            "--out", str(out), "--tracking-uri", tracking_uri, "--run-id", run_id]
    argv[2] = repr(time.time())
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=open(root / f"probe{i}.log", "wb"), timeout=600)
    marks = json.loads(result.read_text())
    t0 = marks["spawned"]
    return {"interpreter": marks["interpreter_up"] - t0,
            "imports": marks["job_module_imported"] - marks["interpreter_up"],
            "setup": marks["callbacks_made_from"] - marks["job_module_imported"],
            "tracking_imports": marks["callbacks_made"] - marks["callbacks_made_from"],
            "build": marks["model_built"] - marks["callbacks_made"],
            "callbacks": marks["first_iteration"] - marks["model_built"],
            "mlflow_on_train_start": marks.get("mlflow_on_train_start_s") or 0.0,
            "total": marks["first_iteration"] - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="exp48_decoder14")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from mlflow.tracking import MlflowClient

    from regseg.data.synthetic import make_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_synthetic(root / "data", train=16, val=8, size=(64, 128), seed=0)
        config = root / "config.json"
        config.write_text(json.dumps(_config(data, args.model)))
        tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment = client.create_experiment("startup")
        figures = {}
        for kind in ("fresh", "resumed"):
            rows = []
            for i in range(args.repeats):
                run_id = client.create_run(experiment).info.run_id
                if kind == "resumed":
                    _probe(root, config, tracking_uri, run_id, 1000 + i)  # logs the params
                rows.append(_probe(root, config, tracking_uri, run_id, i + 100 * len(figures)))
            figures[kind] = {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for kind, phases in figures.items():
        print(f"{kind:8s} " + "  ".join(f"{k} {v:.2f} s" for k, v in phases.items()))


if __name__ == "__main__":
    main()
