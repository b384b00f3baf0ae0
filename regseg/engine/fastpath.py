"""How the engine prepares and runs a model: the one place its speed options live.

The training loop, :func:`regseg.engine.evaluate.evaluate` and ``regseg benchmark`` all call
these functions, so the throughput the benchmark prints is the throughput a run gets.

- Training: the model and every input batch in channels_last (NHWC) memory format, the
  optimiser's fused (single-kernel) step where torch has one for the device, and no host sync
  per iteration (:func:`train_step` returns the loss as a device tensor; the loop reads its
  losses back once per :data:`SYNC_EVERY` iterations and at the end of the epoch).
- Evaluation: a *copy* of the model with every Conv+BatchNorm pair folded into one convolution
  (``regseg.models.fusion``), channels_last, run under ``torch.inference_mode``. The trained
  model is never modified, so checkpoints and later epochs are unaffected.

None of this changes results beyond float rounding: NHWC and folding only reorder the same
arithmetic, and the fused SGD step is the same update rule.

Labels arrive from the loader as uint8 class ids (an eighth of int64's memory and transfer);
the loop widens them on the device (``.long()``) for the loss.

``torch.compile`` is deliberately not used. Measured on the project's 2-core CPU machine
(shared, load average 13-20): compiling the RegSeg training step (forward and backward,
exp48_decoder26, batch 4 at 256x256, one thread) had not finished its first step after 25
minutes, while an eager step took about 2-4 s there; a Cityscapes epoch (372 iterations at
batch 8, 768x768) would have to gain more than 4 s per iteration to repay even that, more than
the whole eager step at 256x256. On a GPU the trade-off differs, but nothing here measured it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from regseg.engine.devices import autocast_context

__all__ = ["MEMORY_FORMAT", "SYNC_EVERY", "prepare_for_training", "prepare_for_eval",
           "to_model_input", "optimizer_options", "train_step", "eval_logits"]

#: Memory format of the model's weights and of every input batch.
MEMORY_FORMAT = torch.channels_last
#: Iterations between two reads of the loss values by the host (the divergence check).
SYNC_EVERY = 50


def prepare_for_training(model: nn.Module, device: torch.device | str) -> nn.Module:
    """Move ``model`` (in place) to ``device`` in :data:`MEMORY_FORMAT`; returns it.

    Parameters keep their values exactly; only their memory layout changes, so state dicts
    saved from it load into any model (and vice versa).
    """
    return model.to(device=torch.device(device), memory_format=MEMORY_FORMAT)


def prepare_for_eval(model: nn.Module) -> nn.Module:
    """An eval-mode *copy* of ``model`` for inference: Conv+BN pairs folded, channels_last,
    gradients off. Same device as ``model``; ``model`` itself is left as it was.

    Its logits equal ``model.eval()``'s up to float rounding (tests/training check it).
    """
    from regseg.models.fusion import fuse_conv_bn

    folded = fuse_conv_bn(model).to(memory_format=MEMORY_FORMAT)
    folded.requires_grad_(False)
    return folded.eval()


def to_model_input(images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """An image batch ``[N, 3, H, W]`` on ``device`` in :data:`MEMORY_FORMAT` (asynchronous copy
    when the batch is in pinned memory)."""
    images = images.to(device, non_blocking=True)
    return images.contiguous(memory_format=MEMORY_FORMAT)


def optimizer_options(device: torch.device | str) -> dict[str, Any]:
    """Keyword options for ``torch.optim.SGD`` on ``device``: the fused kernel on CPU and CUDA
    (one kernel for all parameters), the multi-tensor path elsewhere."""
    kind = torch.device(device).type
    if kind in ("cpu", "cuda"):
        return {"fused": True}
    return {"foreach": True}


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
               loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler, device: torch.device,
               amp: str | None) -> torch.Tensor:
    """One optimisation iteration on a prepared batch (see :func:`to_model_input`).

    Forward under autocast ``amp``, loss, scaled backward, optimiser step, scaler update.
    Returns the loss as a detached device tensor (no host sync); the learning-rate schedule is
    the caller's to step.
    """
    with autocast_context(device, amp):
        loss = loss_fn(model(images), labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def eval_logits(model: nn.Module, images: torch.Tensor, *, device: torch.device,
                amp: str | None) -> torch.Tensor:
    """Logits of a model from :func:`prepare_for_eval` on a prepared batch. Call it inside
    ``torch.inference_mode()``."""
    with autocast_context(device, amp):
        return model(images)
