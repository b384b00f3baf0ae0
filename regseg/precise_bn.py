"""Precise BatchNorm statistics (pycls; "Rethinking 'Batch' in BatchNorm", Wu & Johnson 2021).

Before evaluation, the running mean/var of every ``BatchNorm2d`` are replaced by the average of
per-batch statistics over ``num_samples // batch_size`` training batches (at most one epoch).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["recompute_bn_stats"]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, loader, num_samples: int, *,
                       device: torch.device | str = "cpu",
                       stop=None) -> int:
    """Recompute BN running statistics in place; returns the number of batches used.

    The model is left in train mode (the caller switches to eval). Momentum values are restored.
    ``stop`` (an Event-like object) ends the pass early; statistics then average what was seen.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    batch_size = getattr(loader, "batch_size", None) or 1
    num_iter = min(int(num_samples / batch_size), len(loader))
    if not bns or num_iter < 1:
        return 0
    model.train()
    means = [torch.zeros_like(bn.running_mean) for bn in bns]
    variances = [torch.zeros_like(bn.running_var) for bn in bns]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 1.0  # running stats = statistics of the current batch only
    used = 0
    for images, _labels in itertools.islice(loader, num_iter):
        if stop is not None and stop.is_set():
            break
        model(images.to(device))
        used += 1
        for i, bn in enumerate(bns):
            means[i] += bn.running_mean
            variances[i] += bn.running_var
    for i, bn in enumerate(bns):
        if used:
            bn.running_mean.copy_(means[i] / used)
            bn.running_var.copy_(variances[i] / used)
        bn.momentum = momenta[i]
    return used
