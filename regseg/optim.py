"""The optimiser of RegSeg: SGD with momentum, weight decay optionally off for BatchNorm params.

Which parameters count as "BN": like the reference, every parameter whose qualified name contains
``"bn"`` (the RegSeg modules name their BatchNorm layers ``bn``, ``bn1``, ``bn2``, ...). A BN
layer under another name keeps its weight decay, exactly as in the reference.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["build_optimizer", "split_bn_params"]


def split_bn_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(bn_params, other_params)`` in ``named_parameters()`` order, split on ``"bn" in name``."""
    bn, other = [], []
    for name, param in model.named_parameters():
        (bn if "bn" in name else other).append(param)
    return bn, other


def build_optimizer(model: nn.Module, *, lr: float, momentum: float = 0.9,
                    weight_decay: float = 1e-4,
                    bn_weight_decay: bool = False, fused: bool | None = None,
                    foreach: bool | None = None) -> torch.optim.SGD:
    """SGD over every parameter of ``model``.

    With ``bn_weight_decay=False`` there are two param groups: group 0 = BN params with weight
    decay 0, group 1 = the rest with ``weight_decay``; otherwise one group.
    ``fused`` / ``foreach`` pick torch's implementation of the same update (speed only).
    """
    if bn_weight_decay:
        groups = [{"params": list(model.parameters())}]
    else:
        bn, other = split_bn_params(model)
        groups = [{"params": bn, "weight_decay": 0.0}, {"params": other,
                                                        "weight_decay": weight_decay}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                           fused=fused, foreach=foreach)
