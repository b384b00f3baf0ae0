"""Unit tests of the engine's parts: checkpoints, evaluate, optimiser groups, precise BN."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from regseg.engine import checkpoint as ckpt
from regseg.engine.evaluate import evaluate
from regseg.errors import CheckpointError


def _payload(epoch):
    return {"model": {"w": torch.full((2,), float(epoch))}, "optimizer": {}, "scheduler": {},
            "epoch": epoch}


def test_save_last_keeps_the_previous_and_leaves_no_temp_files(tmp_path):
    for epoch in range(3):
        ckpt.save_last(_payload(epoch), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]
    payload, path = ckpt.load_resume(tmp_path)
    assert path.name == "last.pt" and payload["epoch"] == 2


def test_corrupt_last_falls_back_to_previous_with_one_warning(tmp_path, caplog):
    ckpt.save_last(_payload(0), tmp_path)
    ckpt.save_last(_payload(1), tmp_path)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # logged once, not also raised as a Python warning
        with caplog.at_level("WARNING", logger="regseg.engine.checkpoint"):
            payload, path = ckpt.load_resume(tmp_path)
    assert path.name == "last.prev.pt" and payload["epoch"] == 0
    [record] = [r for r in caplog.records if "could not read" in r.getMessage()]
    assert "resuming from" in record.getMessage() and "last.prev.pt" in record.getMessage()


def test_missing_last_after_a_crash_between_renames_uses_previous(tmp_path):
    ckpt.save_last(_payload(0), tmp_path)
    ckpt.save_last(_payload(1), tmp_path)
    (tmp_path / "last.pt").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing corrupt, so no warning
        payload, path = ckpt.load_resume(tmp_path)
    assert path.name == "last.prev.pt" and payload["epoch"] == 0


def test_no_usable_checkpoint_raises_and_none_present_returns_none(tmp_path):
    assert ckpt.load_resume(tmp_path) is None
    (tmp_path / "last.pt").write_bytes(b"garbage")
    torch.save({"model": {}}, tmp_path / "last.prev.pt")  # loads, but lacks required keys
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        ckpt.load_resume(tmp_path)


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    ckpt.atomic_save({"rng": ckpt.capture_rng(gen)}, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(),
                torch.rand(1, generator=gen).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9), gen.manual_seed(9)
    ckpt.restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"], gen)
    got = (random.random(), np.random.rand(), torch.rand(1).item(),
           torch.rand(1, generator=gen).item())
    assert got == expected


class OneHotModel(nn.Module):
    """Its logits are its input: images carry the one-hot prediction we want evaluated."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.scale


def _batch(pred, label, num_classes=3):
    pred, label = torch.tensor(pred), torch.tensor(label)
    image = nn.functional.one_hot(pred, num_classes).permute(2, 0, 1).float()
    return image.unsqueeze(0), label.unsqueeze(0)


def test_evaluate_counts_ignores_and_limits_images():
    loader = [
        _batch([[0, 0], [1, 2]], [[0, 1], [1, 255]]),   # TP0 1, 1->0 once, TP1 1, ignored 1
        _batch([[2, 2], [2, 2]], [[2, 2], [2, 0]]),     # TP2 3, 0->2 once
        _batch([[0, 0], [0, 0]], [[1, 1], [1, 1]]),     # beyond max_images
    ]
    result = evaluate(OneHotModel(), loader, num_classes=3, device="cpu", max_images=2,
                      class_names=["a", "b", "c"], exclude_classes=[2], progress=False)
    assert result["confusion_matrix"].tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 3]]
    assert result["eval_images"] == 2
    assert result["iou/a"] == pytest.approx(100 / 3) and result["iou/b"] == pytest.approx(50.0)
    assert result["iou/c"] == pytest.approx(75.0)
    assert result["mIoU_reduced"] == pytest.approx((100 / 3 + 50) / 2)
    assert result["pixel_accuracy"] == pytest.approx(500 / 7)


def test_evaluate_resizes_logits_to_the_label_and_runs_in_bf16():
    image, _ = _batch([[0, 1], [1, 1]], [[0, 0], [0, 0]])
    label = torch.tensor([[0, 0, 1, 1]] * 2 + [[1, 1, 1, 1]] * 2).unsqueeze(0)  # 4x4 label
    result = evaluate(OneHotModel(), [(image, label)], num_classes=3, device="cpu", amp="bf16",
                      progress=False)
    assert result["confusion_matrix"].tolist() == [[4, 0, 0], [0, 12, 0], [0, 0, 0]]


def test_evaluate_stops_on_request():
    from regseg.errors import TrainingInterrupted

    class Set:
        def is_set(self):
            return True

    with pytest.raises(TrainingInterrupted, match="stop requested during evaluation"):
        evaluate(OneHotModel(), [_batch([[0]], [[0]])], num_classes=3, device="cpu", stop=Set(),
                 progress=False)


def test_sgd_has_no_weight_decay_on_bn_params_of_regseg():
    from regseg.models import build_model
    from regseg.optim import build_optimizer

    model = build_model("exp48_decoder26")
    opt = build_optimizer(model, lr=0.05, momentum=0.9, weight_decay=1e-4, bn_weight_decay=False)
    bn_group, other = opt.param_groups
    bn_ids = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d)
              for p in m.parameters()}
    assert {id(p) for p in bn_group["params"]} == bn_ids and bn_group["weight_decay"] == 0.0
    assert other["weight_decay"] == 1e-4 and other["momentum"] == 0.9 and other["lr"] == 0.05
    assert len(bn_group["params"]) + len(other["params"]) == len(list(model.parameters()))
    single = build_optimizer(model, lr=0.05, weight_decay=1e-4, bn_weight_decay=True)
    assert len(single.param_groups) == 1 and single.param_groups[0]["weight_decay"] == 1e-4


def test_precise_bn_averages_per_batch_statistics():
    from regseg.precise_bn import recompute_bn_stats

    data = torch.tensor([0.0, 2.0, 10.0, 14.0, 100.0, 300.0]).reshape(6, 1, 1, 1)
    loader = DataLoader(TensorDataset(data, torch.zeros(6)), batch_size=2, shuffle=False)
    model = nn.Sequential(nn.BatchNorm2d(1))
    used = recompute_bn_stats(model, loader, num_samples=4)  # 4 // 2 = 2 batches
    bn = model[0]
    assert used == 2 and bn.momentum == 0.1
    assert bn.running_mean.item() == pytest.approx((1.0 + 12.0) / 2)
    assert bn.running_var.item() == pytest.approx((2.0 + 8.0) / 2)  # unbiased per-batch variances


def test_evaluate_with_a_progress_bar(capsys):
    result = evaluate(OneHotModel(), [_batch([[1]], [[1]])], num_classes=3, device="cpu",
                      progress=True)
    assert result["iou/1"] == 100.0
    assert "eval" in capsys.readouterr().err
