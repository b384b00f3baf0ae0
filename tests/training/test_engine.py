"""The engine end to end on CPU: `regseg train`/`regseg eval`, checkpoints, exact resume, stop."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import yaml

from regseg.errors import TrainingDiverged, TrainingInterrupted

# Timing-only metrics; everything else of an epoch must be identical after a resume on CPU.
TIMING_KEYS = {"images_per_s", "epoch_time", "eval_time", "eval_images_per_s"}


def _epochs(out_dir):
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {row["epoch"]: row for row in rows}


def _write_config(cfg, path):
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


class Recorder:
    """A callback recording the protocol calls of docs/CONTRACTS.md."""

    def __init__(self):
        self.events = []

    def on_train_start(self, cfg, *, model, start_epoch, out_dir):
        self.events.append(("start", start_epoch))

    def on_epoch_end(self, epoch, metrics):
        self.events.append(("epoch", epoch))

    def on_checkpoint(self, kind, path):
        assert path.exists()
        self.events.append(("checkpoint", kind))

    def on_train_end(self, summary):
        self.events.append(("end", summary))


class StopAfter:
    """An Event-like stop flag that turns on at its n-th ``is_set()`` query (deterministic)."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def is_set(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


@pytest.fixture(scope="module")
def cli_run(tiny_config, tmp_path_factory):
    """`regseg train` of the tiny config for 2 epochs: (out_dir, per-epoch rows, stdout,
    seconds)."""
    from typer.testing import CliRunner

    from regseg.cli import app

    root = tmp_path_factory.mktemp("cli_run")
    config = _write_config(tiny_config.with_overrides(epochs=7), root / "tiny.yaml")
    out = root / "run"
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--out", str(out),
                                      "--set", "epochs=2", "--threads", "1", "--no-progress",
                                      "--format", "json"])
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, (result.output, result.exception)
    print(f"\n2-epoch exp48_decoder26 64x128 CPU train wall time: {elapsed:.1f}s")
    return out, _epochs(out), result.stdout, elapsed


@pytest.mark.slow
def test_cli_train_two_epochs_improves_miou(cli_run, tiny_config):
    from regseg.data import class_names

    out, rows, stdout, elapsed = cli_run
    assert sorted(rows) == [0, 1]
    assert rows[1]["mIoU"] > rows[0]["mIoU"]
    assert rows[1]["loss"] < rows[0]["loss"]
    names = list(class_names(tiny_config))
    for row in rows.values():
        assert {"loss", "lr", "images_per_s", "epoch_time", "mIoU", "mIoU_reduced",
                "pixel_accuracy"} <= set(row)
        assert [k for k in row if k.startswith("iou/")] == [f"iou/{n}" for n in names]
        assert 0.0 <= row["mIoU"] <= 100.0 and 0.0 <= row["pixel_accuracy"] <= 100.0
    assert rows[1]["lr"] == 0.0  # poly schedule ends at 0 after the last iteration
    summary = json.loads(stdout)
    assert summary["best_epoch"] == 1 and summary["best_mIoU"] == pytest.approx(rows[1]["mIoU"])
    assert json.loads((out / "config.json").read_text())["epochs"] == 2  # --set epochs=2 applied
    saved = json.loads((out / "summary.json").read_text())
    assert len(saved["confusion_matrix"]) == 19


@pytest.mark.slow
def test_checkpoints_are_complete_and_weights_only(cli_run):
    from regseg.models import build_model, load_weights

    directory = cli_run[0] / "checkpoints"
    assert {p.name for p in directory.iterdir()} == {"last.pt", "last.prev.pt", "best.pt",
                                                     "epoch_0.pt", "epoch_1.pt"}
    epochs = {}
    for path in directory.iterdir():
        payload = torch.load(path, map_location="cpu", weights_only=True)
        assert {"model", "optimizer", "scheduler", "scaler", "epoch", "best_mIoU", "rng",
                "config", "iteration"} <= set(payload)
        assert {"python", "numpy", "torch", "cuda", "loader"} <= set(payload["rng"])
        epochs[path.name] = payload["epoch"]
    assert epochs == {"last.pt": 1, "last.prev.pt": 0, "best.pt": 1, "epoch_0.pt": 0,
                      "epoch_1.pt": 1}
    report = load_weights(build_model("exp48_decoder26"), directory / "best.pt", strict=True)
    assert report.clean


@pytest.mark.slow
def test_cli_eval_reproduces_the_best_epoch(cli_run, training_dataset):
    from typer.testing import CliRunner

    from regseg.cli import app

    out, rows, _, _ = cli_run
    result = CliRunner().invoke(app, [
        "eval", "--model", "exp48_decoder26", "--weights", str(out / "checkpoints" / "best.pt"),
        "--data", str(training_dataset), "--dataset", "synthetic", "--val-size", "64",
        "--device", "cpu", "--no-progress", "--format", "json"])
    assert result.exit_code == 0, (result.output, result.exception)
    got = json.loads(result.stdout)
    assert got["images"] == 8
    assert got["mIoU"] == pytest.approx(rows[1]["mIoU"], abs=1e-9)
    assert got["mIoU_reduced"] == pytest.approx(rows[1]["mIoU_reduced"], abs=1e-9)
    assert got["iou"]["road"] == pytest.approx(rows[1]["iou/road"], abs=1e-9)
    table = CliRunner().invoke(app, [
        "eval", "--model", "exp48_decoder26", "--weights", str(out / "checkpoints" / "best.pt"),
        "--data", str(training_dataset), "--dataset", "synthetic", "--val-size", "64",
        "--device", "cpu", "--no-progress"])
    assert table.exit_code == 0 and "mIoU^R" in table.output and "sidewalk" in table.output


@pytest.mark.slow
def test_stopped_and_resumed_run_matches_the_uninterrupted_one(cli_run, tiny_config, tmp_path):
    from regseg.engine import train

    first = train(tiny_config, out_dir=tmp_path, stop_after_epoch=0, progress=False)
    assert first["finished"] is False and first["epochs_completed"] == 1
    # Queries: start of epoch 1, before iteration 0, before iteration 1 -> stops after one step.
    with pytest.raises(TrainingInterrupted, match="during epoch 1; last.pt holds epoch 0"):
        train(tiny_config, out_dir=tmp_path, stop=StopAfter(3), progress=False)
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] == 0
    recorder = Recorder()
    summary = train(tiny_config, out_dir=tmp_path, progress=False, callbacks=[recorder])
    assert summary["finished"] is True and summary["epochs_completed"] == 2
    assert [e[0] for e in recorder.events] == ["start", "epoch", "checkpoint", "checkpoint",
                                               "checkpoint", "end"]
    assert recorder.events[0][1] == 1  # start_epoch after resuming epoch 0
    assert [e[1] for e in recorder.events if e[0] == "checkpoint"] == ["best", "last", "epoch_1"]
    end = recorder.events[-1][1]
    assert end["best_epoch"] == 1 and end["confusion_matrix"].dtype == np.int64

    reference_rows, resumed_rows = cli_run[1], _epochs(tmp_path)
    for epoch in (0, 1):
        want = {k: v for k, v in reference_rows[epoch].items() if k not in TIMING_KEYS}
        got = {k: v for k, v in resumed_rows[epoch].items() if k not in TIMING_KEYS}
        assert got == want, epoch  # exact, not approximate
    ref_model = torch.load(cli_run[0] / "checkpoints" / "last.pt", weights_only=True)["model"]
    new_model = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(ref_model[k], new_model[k]) for k in ref_model)

    again = train(tiny_config, out_dir=tmp_path, progress=False)  # already finished: no training
    assert again["finished"] and again["best_mIoU"] == summary["best_mIoU"]
    assert (again["confusion_matrix"] == summary["confusion_matrix"]).all()


def test_non_finite_loss_names_epoch_and_iteration(tiny_config, tmp_path):
    from regseg.engine import train
    from regseg.models import build_model

    model = build_model(tiny_config.model_name, num_classes=19)
    state = model.state_dict()
    classifier_bias = [k for k in state if k.endswith("bias") and state[k].shape == (19,)][-1]
    state[classifier_bias][3] = float("nan")
    torch.save({"model": state}, tmp_path / "nan.pt")
    cfg = tiny_config.with_overrides(pretrained_path=str(tmp_path / "nan.pt"), epochs=1)
    with pytest.raises(TrainingDiverged, match=r"got nan at epoch 0, iteration 0"):
        train(cfg, out_dir=tmp_path / "run", progress=False)


def test_data_order_depends_only_on_seed_and_epoch(tiny_config):
    from regseg.data import build_loaders
    from regseg.engine.setup import seed_epoch

    def first_batch(cfg, epoch, draws_before=0):
        loader, _ = build_loaders(cfg)
        torch.rand(draws_before)  # unrelated RNG use before the epoch must not matter
        seed_epoch(cfg.seed, epoch, loader)
        return next(iter(loader))[1]

    a = first_batch(tiny_config, 3)
    assert torch.equal(a, first_batch(tiny_config, 3, draws_before=5))
    assert not torch.equal(a, first_batch(tiny_config, 4))
    assert not torch.equal(a, first_batch(tiny_config.with_overrides(seed=1), 3))


def test_cli_train_rejects_a_bad_override(tiny_config, tmp_path):
    from typer.testing import CliRunner

    from regseg.cli import app
    from regseg.errors import ConfigError

    config = _write_config(tiny_config, tmp_path / "tiny.yaml")
    result = CliRunner().invoke(app, ["train", "--config", str(config),
                                      "--out", str(tmp_path / "o"), "--set", "epochs=0"])
    assert isinstance(result.exception, ConfigError) and "epochs" in str(result.exception)
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_engine_imports_no_tracking_or_orchestration():
    import subprocess
    import sys

    code = ("import sys, regseg.engine, regseg.train, regseg.cli.train; "
            "bad = [m for m in sys.modules "
            "if m.split('.')[0] in ('mlflow', 'orchestrator', 'reports')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stop_before_the_first_epoch_leaves_the_initial_state(tiny_config, tmp_path):
    from regseg.engine import train

    with pytest.raises(TrainingInterrupted, match="during epoch 0; last.pt holds epoch -1"):
        train(tiny_config, out_dir=tmp_path, stop=StopAfter(1), progress=False)
    payload = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert payload["epoch"] == -1 and payload["iteration"] == 0
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.slow
def test_finetuning_reinitialises_only_the_classifier(cli_run, tiny_config, tmp_path):
    from regseg.engine import train
    from regseg.errors import WeightsMismatchError

    best = cli_run[0] / "checkpoints" / "best.pt"
    cfg = tiny_config.with_overrides(pretrained_path=str(best), num_classes=20,
                                     change_num_classes=True)
    # stop before epoch 0: last.pt = the starting weights
    with pytest.raises(TrainingInterrupted, match="stopped during epoch 0; last.pt holds epoch -1"):
        train(cfg, out_dir=tmp_path, stop=StopAfter(1), progress=False)
    start = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["model"]
    source = torch.load(best, weights_only=True)["model"]
    different = sorted(k for k in source if start[k].shape != source[k].shape)
    assert different == ["decoder.classifier.bias", "decoder.classifier.weight"]
    assert all(torch.equal(start[k], source[k]) for k in source if k not in different)
    with pytest.raises(WeightsMismatchError, match="decoder.classifier"):
        train(cfg.with_overrides(change_num_classes=False), out_dir=tmp_path / "strict",
              progress=False)
