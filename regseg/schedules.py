"""Per-iteration learning-rate schedules of RegSeg, one registry keyed by
`TrainConfig.lr_scheduler`.

A schedule is a multiplier ``f(it) -> float`` of the base lr, evaluated at iteration ``it``
(0-based, stepped once per optimiser step, ``total`` = iterations of the whole run). During the
first ``warmup_iters`` iterations every schedule is multiplied by the linear warmup factor
``warmup_factor + (1 - warmup_factor) * it / warmup_iters``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from regseg.errors import UnknownNameError

__all__ = ["build_lr_lambda", "build_scheduler", "list_schedules", "warmup_multiplier"]

# Step schedule: x0.1 after 89% of training, x0.01 after 96% (detectron2's LSJ recipe).
STEP_MILESTONES = ((0.89, 0.1), (0.96, 0.01))


def _progress(it: int, total: int) -> float:
    # Clamped so a run longer than its schedule stays at the end value (the reference would
    # raise a negative number to a fractional power there).
    return min(max(it / total, 0.0), 1.0)


def poly(it: int, total: int, *, power: float = 0.9, **_: float) -> float:
    """``(1 - it/total) ** power``."""
    return (1.0 - _progress(it, total)) ** power


def cosine(it: int, total: int, *, min_lr: float = 0.0, **_: float) -> float:
    """Half cosine from 1 to ``min_lr``: ``0.5 * (1 + cos(pi * it/total))`` rescaled."""
    value = 0.5 * (1.0 + math.cos(_progress(it, total) * math.pi))
    return value * (1.0 - min_lr) + min_lr


def exponential(it: int, total: int, *, beta: float = 0.1, **_: float) -> float:
    """``beta ** (it/total)``: decays from 1 to ``beta``."""
    return beta ** _progress(it, total)


def step(it: int, total: int, **_: float) -> float:
    """1, then 0.1 from 89% of training, then 0.01 from 96%."""
    value = 1.0
    for fraction, multiplier in STEP_MILESTONES:
        if it / total >= fraction:
            value = multiplier
    return value


_SCHEDULES: dict[str, Callable[..., float]] = {
    "poly": poly,
    "cosine": cosine,
    "exp": exponential,
    "step": step,
}


def list_schedules() -> list[str]:
    """Registered schedule names, sorted."""
    return sorted(_SCHEDULES)


def warmup_multiplier(it: int, *, warmup_iters: int, warmup_factor: float) -> float:
    """Linear warmup factor at ``it``; 1 from ``warmup_iters`` on."""
    if it >= warmup_iters:
        return 1.0
    return warmup_factor + (1.0 - warmup_factor) * (it / warmup_iters)


def build_lr_lambda(name: str, *, total_iters: int, warmup_iters: int = 0,
                    warmup_factor: float = 0.1,
                    poly_power: float = 0.9, exp_beta: float = 0.1,
                    min_lr: float = 0.0) -> Callable[[int], float]:
    """The lr multiplier of schedule ``name`` as a function of the iteration.

    Raises UnknownNameError for an unknown name and ValueError for ``total_iters < 1``.
    """
    if name not in _SCHEDULES:
        raise UnknownNameError(
            f"lr_scheduler: expected one of {', '.join(list_schedules())}, got {name!r}")
    if total_iters < 1:
        raise ValueError(f"total_iters: expected >= 1, got {total_iters}")
    base = _SCHEDULES[name]
    params = {"power": poly_power, "beta": exp_beta, "min_lr": min_lr}

    # A plain function (not a callable object), so LambdaLR.state_dict() stores only numbers.
    def multiplier(it: int) -> float:
        return base(it, total_iters, **params) * warmup_multiplier(
            it, warmup_iters=warmup_iters, warmup_factor=warmup_factor)

    return multiplier


def build_scheduler(optimizer: torch.optim.Optimizer, name: str,
                    **options) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` driven by :func:`build_lr_lambda`; call ``.step()`` after every optimiser
    step.

    Its ``state_dict()`` holds only numbers (the multiplier is rebuilt from the config on resume).
    """
    return torch.optim.lr_scheduler.LambdaLR(optimizer, build_lr_lambda(name, **options))

