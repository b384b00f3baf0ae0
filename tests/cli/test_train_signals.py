"""`regseg train` (the typer command, not only ``python -m regseg.train``) under a flood of
SIGTERMs: the first stops training with a resumable checkpoint, and the ones that keep arriving
while the process reports and tears down must not turn exit 75 into death by signal (-15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml


def _epoch_of(path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # absent or being replaced
        return -1


@pytest.mark.slow
def test_regseg_train_exits_75_under_repeated_sigterm(tmp_path):
    from regseg.data import make_synthetic

    data = make_synthetic(tmp_path / "data", train=8, val=4, size=(64, 128), seed=0)
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({
        "model_name": "exp48_decoder26", "dataset_name": "synthetic", "dataset_dir": str(data),
        "epochs": 50, "batch_size": 2, "train_min_size": 64, "train_max_size": 96,
        "train_crop_size": [64, 128], "val_input_size": 64, "val_label_size": 64,
        "num_workers": 0, "warmup_iters": 2, "eval_every": 1, "max_eval": 4,
        "save_every_k_epochs": 1, "mixed_precision": False, "device": "cpu"}))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "regseg", "train", "--config", str(config),
                             "--out", str(out), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    last = out / "checkpoints" / "last.pt"
    try:
        deadline = time.time() + 240
        while _epoch_of(last) < 0 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert _epoch_of(last) >= 0, proc.communicate(timeout=5)
        sent = 0
        while proc.poll() is None and time.time() < deadline:  # worker + scheduler + terminal
            proc.send_signal(signal.SIGTERM)
            sent += 1
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sent > 1
    assert proc.returncode == 75, (proc.returncode, stderr[-2000:])
    assert stderr.count("SIGTERM received") == 1, stderr[-2000:]
    assert 0 <= _epoch_of(last) < 49
