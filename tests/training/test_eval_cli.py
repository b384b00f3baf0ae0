"""`regseg eval` takes the run's own settings from a training checkpoint (issue 18).

The demo's 64x128 checkpoint evaluated with the Cityscapes defaults (val size 1024) printed 1.45
mIoU instead of 21.70. A training checkpoint carries its resolved TrainConfig, so eval with only
``--weights`` must reproduce the run's own evaluation, say when an option overrides what the
run was trained with, and ``--run`` must find a queue job's or an MLflow run's best checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from regseg.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def regseg(capsys, *args: str) -> tuple[int, str, str]:
    """Run the `regseg` entry point in-process: (exit status, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["regseg", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config):
    """A 1-epoch tiny run: (its summary, its best checkpoint)."""
    from regseg.engine import train

    out = tmp_path_factory.mktemp("eval_run")
    cfg = tiny_config.with_overrides(epochs=1, save_every_k_epochs=0)
    summary = train(cfg, out_dir=out)
    return summary, out / "checkpoints" / "best.pt"


def test_weights_alone_reproduce_the_runs_own_evaluation(capsys, trained):
    summary, best = trained
    code, out, err = regseg(capsys, "eval", "--weights", str(best), "--format", "json",
                            "--threads", "1", "--no-progress")
    assert code == 0, err
    result = json.loads(out)
    assert result["mIoU"] == pytest.approx(summary["best_mIoU"], abs=0.01)
    assert result["images"] == 8 and len(result["iou"]) == 19
    assert "warning" not in err


def test_an_option_that_disagrees_with_the_checkpoint_is_reported(capsys, trained):
    _, best = trained
    code, out, err = regseg(capsys, "eval", "--weights", str(best), "--val-size", "96",
                            "--format", "json", "--threads", "1", "--no-progress")
    assert code == 0, err
    assert ("warning: evaluating with val_input_size=96, but the checkpoint was trained with "
            "val_input_size=64") in err
    assert "val_label_size=96" in err and "model_name" not in err


def test_bare_weights_need_model_and_data(capsys, trained, tmp_path):
    _, best = trained
    bare = tmp_path / "bare.pt"
    torch.save({"model": torch.load(best, weights_only=True)["model"]}, bare)
    code, _, err = regseg(capsys, "eval", "--weights", str(bare))
    assert code == 2
    assert "--model and --data: expected with weights that carry no training config" in err


@pytest.mark.parametrize("args", [
    ["--weights", "no/such/file.pt"],
    [],
    ["--weights", "x.pt", "--run", "1"],
    ["--run", "1", "--db", "sqlite:///no/such/queue.db"],
])
def test_bad_input_exits_2(capsys, args):
    code, _, err = regseg(capsys, "eval", *args)
    assert code == 2, err
    assert err.strip()


@pytest.mark.slow
def test_run_finds_a_jobs_and_an_mlflow_runs_best_checkpoint(tmp_path, capsys):
    from regseg.data import make_synthetic

    project = tmp_path / "project"
    (project / "experiments").mkdir(parents=True)
    make_synthetic(project / "data", train=8, val=8, size=(64, 128), seed=0)
    spec = project / "experiments" / "one.yaml"
    spec.write_text(
        "name: one\ngroup: test\nbase:\n  model_name: exp48_decoder26\n  dataset_name: synthetic\n"
        "  dataset_dir: data\n  epochs: 1\n  batch_size: 4\n  train_min_size: 64\n"
        "  train_max_size: 96\n  train_crop_size: [64, 128]\n  val_input_size: 64\n"
        "  val_label_size: 64\n  num_workers: 0\n  warmup_iters: 2\n  mixed_precision: false\n"
        "  device: cpu\n  aug_mode: baseline\n  class_uniform_pct: 0.0\n  max_eval: 8\n"
        "  eval_every: 1\n  eval_last_k_epochs: 0\n  save_every_k_epochs: 0\n")
    state = project / ".regseg"
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update(REGSEG_HOME=str(state), OMP_NUM_THREADS="1")
    db = f"sqlite:///{state / 'queue.db'}"
    for argv in (["queue", str(spec), "--db", db, "--project-dir", str(project)],
                 ["worker", "--db", db, "--gpus", "none", "--cpu-slots", "1", "--exit-when-empty",
                  "--poll-seconds", "0.2", "--no-log-checkpoints", "--no-sample-images"]):
        done = subprocess.run([sys.executable, "-m", "regseg", *argv], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    [job] = queue.jobs(open_store(db, create=False))
    assert job["state"] == "succeeded", job
    # from another directory: the dataset is found under the job's project directory
    tracking = f"sqlite:///{state / 'mlflow.db'}"
    for ref in (str(job["id"]), job["mlflow_run_id"]):
        code, out, err = regseg(capsys, "eval", "--run", ref, "--db", db, "--tracking-uri",
                                tracking, "--format", "json", "--threads", "1", "--no-progress")
        assert code == 0, err
        assert json.loads(out)["mIoU"] == pytest.approx(job["best_miou"], abs=0.01), ref
        assert "warning" not in err
