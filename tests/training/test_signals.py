"""SIGTERM/SIGINT: the stop event, and `python -m regseg.train` exiting 75 with a resumable
checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml


def test_stop_on_signals_sets_the_event_and_restores_handlers():
    from regseg.train import stop_on_signals

    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.time() + 5
        while not stop.is_set() and time.time() < deadline:
            time.sleep(0.01)
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is before


def _epoch_of(path) -> int:
    """The epoch a checkpoint holds; -1 when it does not exist (yet) or is being replaced."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:
        return -1


@pytest.mark.slow
def test_sigterm_exits_75_with_a_loadable_last_checkpoint(tiny_config, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(tiny_config.with_overrides(epochs=50).model_dump(mode="json")))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "regseg.train", "--config", str(config),
                             "--out", str(out), "--no-progress", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        last = out / "checkpoints" / "last.pt"
        deadline = time.time() + 240
        # the engine writes last.pt of epoch -1 (the starting weights) first: wait for epoch 0
        while _epoch_of(last) < 0 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert _epoch_of(last) >= 0, proc.communicate(timeout=5)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # a second sender of the same stop (worker + terminal)
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 75, stderr
    assert "interrupted: stopped during epoch" in stderr
    assert stderr.count("SIGTERM received") == 1, stderr  # one stop, one line
    payload = torch.load(last, map_location="cpu", weights_only=True)
    # a completed epoch before the end (epoch -1 = nothing trained: not a resumable state)
    assert 0 <= payload["epoch"] < 49, payload["epoch"]
