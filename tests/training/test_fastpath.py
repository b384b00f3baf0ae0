"""The engine's fast path keeps results: folded eval copy, channels_last, fused SGD, no syncs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from regseg.engine.fastpath import (
    optimizer_options,
    prepare_for_eval,
    prepare_for_training,
    to_model_input,
    train_step,
)
from regseg.models import build_model
from regseg.optim import build_optimizer


def _trained_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics and affine terms (fresh BN folds to almost nothing)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return model


@pytest.mark.parametrize("name", ["exp48_decoder26", "exp43_decoder14"])
def test_folded_eval_copy_matches_the_unfolded_logits(name):
    torch.manual_seed(0)
    model = _trained_bn(build_model(name)).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        want = model(x)
        folded = prepare_for_eval(model)
        got = folded(to_model_input(x, "cpu"))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is kept
    assert (got - want).abs().max().item() <= 1e-4 * max(1.0, want.abs().max().item())
    assert (torch.equal(got.argmax(1), want.argmax(1))
            or (got.argmax(1) != want.argmax(1)).float().mean() < 1e-3)


def test_prepare_for_training_keeps_values_and_state_dict_keys():
    torch.manual_seed(0)
    model = build_model("exp48_decoder26")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prepared = prepare_for_training(model, "cpu")
    assert prepared is model
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(before[k], after[k]) for k in before)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    fresh = build_model("exp48_decoder26")
    fresh.load_state_dict(after)  # checkpoints from a prepared model load anywhere


def _one_step(fast: bool):
    """(loss, flat gradient, flat updated weights) of one SGD iteration on a fixed batch."""
    torch.manual_seed(0)
    model = build_model("exp48_decoder26")
    options = optimizer_options("cpu") if fast else {}
    if fast:
        prepare_for_training(model, "cpu")
    optimizer = build_optimizer(model, lr=0.05, weight_decay=1e-4, **options)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 64, 64, generator=g), torch.randint(0, 19, (4, 64, 64), generator=g)
    loss = train_step(model, to_model_input(x, "cpu") if fast else x, y,
                      loss_fn=nn.CrossEntropyLoss(ignore_index=255), optimizer=optimizer,
                      scaler=torch.amp.GradScaler("cpu", enabled=False),
                      device=torch.device("cpu"), amp=None)
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    return loss, grad, weights


def test_fast_train_step_matches_the_plain_eager_step():
    """channels_last + fused SGD vs contiguous + for-loop SGD: the same iteration up to float
    rounding. (Train-mode BatchNorm over 4x4 maps at batch 4 amplifies rounding in the
    gradients of the deep layers, hence a relative tolerance on the whole gradient.)"""
    loss_plain, grad_plain, weights_plain = _one_step(fast=False)
    loss_fast, grad_fast, weights_fast = _one_step(fast=True)
    assert not loss_fast.requires_grad
    assert loss_fast.item() == pytest.approx(loss_plain.item(), rel=1e-5)
    assert ((grad_fast - grad_plain).norm() / grad_plain.norm()).item() < 0.02
    assert torch.allclose(weights_fast, weights_plain, atol=1e-3)


def test_fused_sgd_is_the_same_update_as_the_for_loop():
    params = [nn.Parameter(torch.randn(7, 5)) for _ in range(3)]
    copies = [nn.Parameter(p.detach().clone()) for p in params]
    plain = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
    fused = torch.optim.SGD(copies, lr=0.05, momentum=0.9, weight_decay=1e-4,
                            **optimizer_options("cpu"))
    for step in range(3):
        for p, q in zip(params, copies):
            p.grad = torch.full_like(p, 0.1 * (step + 1)) + p.detach()
            q.grad = p.grad.clone()
        plain.step()
        fused.step()
    assert all(torch.allclose(p, q, rtol=1e-6, atol=1e-7) for p, q in zip(params, copies))


def test_resumed_optimizer_keeps_the_fused_step(tiny_config):
    from regseg.engine.setup import build_components

    parts = build_components(tiny_config)
    saved = parts.optimizer.state_dict()
    for group in saved["param_groups"]:  # a checkpoint written by a build without fused steps
        group["fused"] = None
    parts.load_state({"model": parts.model.state_dict(), "optimizer": saved,
                      "scheduler": parts.scheduler.state_dict()})
    assert all(g["fused"] for g in parts.optimizer.param_groups)


def test_loader_batches_arrive_channels_last(tiny_config):
    from regseg.data import build_loaders

    images, labels = next(iter(build_loaders(tiny_config)[0]))
    assert (images.shape == (2, 3, 64, 128)
            and images.is_contiguous(memory_format=torch.channels_last))
    assert labels.dtype == torch.uint8  # widened to int64 on the device by the engine
