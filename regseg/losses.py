"""Training losses of RegSeg, one registry keyed by the names `TrainConfig.loss_type` uses.

Every loss maps ``(logits[N, C, H, W] float, labels[N, H, W] int64) -> scalar tensor``; label
pixels equal to ``ignore_index`` contribute nothing (their per-pixel loss is 0).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from regseg.errors import UnknownNameError

__all__ = ["BootstrappedCrossEntropy", "build_loss", "list_losses", "bootstrap_min_k"]

# The reference keeps pixels whose cross entropy exceeds this value (a loss value, not a
# probability).
BOOTSTRAP_THRESHOLD = 0.3
# ... unless fewer than batch*crop_h*crop_w/16 pass, then it keeps the hardest K pixels.
BOOTSTRAP_FRACTION = 16


class BootstrappedCrossEntropy(nn.Module):
    """Mean cross entropy over the hard pixels of a batch ("bootstrapped" loss of the paper).

    Per-pixel cross entropy (ignored pixels give 0); if strictly more than ``min_k`` pixels have a
    loss above ``threshold`` the mean over those pixels is returned, otherwise the mean of the
    ``min_k`` largest per-pixel losses (ignored pixels included as zeros, as in the reference).
    ``min_k`` is fixed at construction from the configured batch and crop size.
    """

    def __init__(self, *, min_k: int, threshold: float = BOOTSTRAP_THRESHOLD,
                 ignore_index: int = 255):
        super().__init__()
        self.min_k = int(min_k)
        self.threshold = float(threshold)
        self.ignore_index = int(ignore_index)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pixel_losses = F.cross_entropy(logits, labels, ignore_index=self.ignore_index,
                                       reduction="none").reshape(-1)
        hard = pixel_losses > self.threshold
        if int(hard.sum()) > self.min_k:
            return pixel_losses[hard].mean()
        # A last, smaller batch can hold fewer pixels than K: keep them all then.
        k = min(self.min_k, pixel_losses.numel())
        return torch.topk(pixel_losses, k).values.mean()

    def extra_repr(self) -> str:
        return f"min_k={self.min_k}, threshold={self.threshold}, ignore_index={self.ignore_index}"


def bootstrap_min_k(*, batch_size: int, crop_size: int | tuple[int, int] | list[int]) -> int:
    """K of the bootstrapped loss: ``int(batch * crop_h * crop_w / 16)`` (8x768x768 -> 294912)."""
    crop_h, crop_w = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
    return int(batch_size * crop_h * crop_w / BOOTSTRAP_FRACTION)


def _cross_entropy(*, ignore_index: int, **_: object) -> nn.Module:
    return nn.CrossEntropyLoss(ignore_index=ignore_index)


def _bootstrapped(*, ignore_index: int, batch_size: int, crop_size,
                  threshold: float = BOOTSTRAP_THRESHOLD,
                  **_: object) -> nn.Module:
    return BootstrappedCrossEntropy(min_k=bootstrap_min_k(batch_size=batch_size,
                                                          crop_size=crop_size),
                                    threshold=threshold, ignore_index=ignore_index)


_LOSSES: dict[str, Callable[..., nn.Module]] = {
    "cross_entropy": _cross_entropy,
    "bootstrapped_cross_entropy": _bootstrapped,
}


def list_losses() -> list[str]:
    """Registered loss names, sorted."""
    return sorted(_LOSSES)


def build_loss(name: str, *, ignore_index: int = 255, batch_size: int = 8,
               crop_size: int | tuple[int, int] | list[int] = 768,
               threshold: float = BOOTSTRAP_THRESHOLD) -> nn.Module:
    """Build the loss registered as ``name``; raises UnknownNameError listing the valid names.

    ``batch_size``/``crop_size``/``threshold`` only matter for ``bootstrapped_cross_entropy``.
    """
    try:
        factory = _LOSSES[name]
    except KeyError:
        raise UnknownNameError(
            f"loss_type: expected one of {', '.join(list_losses())}, got {name!r}") from None
    return factory(ignore_index=ignore_index, batch_size=batch_size, crop_size=crop_size,
                   threshold=threshold)
