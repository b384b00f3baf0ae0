"""Building what a training run needs from a TrainConfig, and the run's seeding rules."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from regseg.engine.devices import resolve_device
from regseg.engine.fastpath import optimizer_options, prepare_for_training

__all__ = ["Components", "build_components", "seed_everything", "seed_epoch", "epoch_seed",
           "resolve_amp"]

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices): before the model is built (its init)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed that depends only on ``(seed, epoch)`` (numpy SeedSequence mixing)."""
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def _loader_generators(loader) -> list[torch.Generator]:
    found = []
    for owner in (loader, getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def seed_epoch(seed: int, epoch: int, loader) -> None:
    """Reseed every RNG the train loader may draw from at the start of ``epoch``.

    The reference reseeds with the epoch number alone; here the run seed is mixed in so runs
    with different seeds also see different data orders. Also calls ``set_epoch(epoch)`` on the
    loader's sampler / dataset when they define it.
    """
    s = epoch_seed(seed, epoch)
    seed_everything(s)
    for gen in _loader_generators(loader):
        gen.manual_seed(s)
    for owner in (getattr(loader, "sampler", None), getattr(loader, "dataset", None)):
        if hasattr(owner, "set_epoch"):
            owner.set_epoch(epoch)


def resolve_amp(mixed_precision: bool, device: torch.device, cpu_amp: str | None) -> str | None:
    """fp16 on CUDA when mixed precision is on; on CPU only ``cpu_amp`` (e.g. 'bf16'); else None."""
    if not mixed_precision:
        return None
    if device.type == "cuda":
        return "fp16"
    return cpu_amp


@dataclass
class Components:
    """Everything the loop drives. ``load_state`` restores a checkpoint dict into it."""

    device: torch.device
    amp: str | None
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    loss_fn: torch.nn.Module
    train_loader: Any
    val_loader: Any
    class_names: list[str]
    eval_epochs: frozenset[int]

    @property
    def loader_generator(self) -> torch.Generator | None:
        gens = _loader_generators(self.train_loader)
        return gens[0] if gens else None

    def load_state(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        for group in self.optimizer.param_groups:  # a checkpoint's groups carry its run's choice
            group.update(optimizer_options(self.device))
        self.scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])


def build_model_for(cfg, device: torch.device, *, load_pretrained: bool = True) -> torch.nn.Module:
    """The zoo model of ``cfg``, with ``cfg.pretrained_path`` loaded when ``load_pretrained``
    (classifier re-initialised when ``cfg.change_num_classes``), on ``device``, prepared for
    training (:func:`regseg.engine.fastpath.prepare_for_training`)."""
    from regseg.models import build_model, load_weights

    model = build_model(cfg.model_name, num_classes=cfg.num_classes)
    if cfg.pretrained_path and load_pretrained:
        report = load_weights(model, cfg.pretrained_path, strict=True,
                              num_classes_change=cfg.change_num_classes)
        if report.reinitialised:
            log.info("pretrained %s: re-initialised %s", cfg.pretrained_path, report.reinitialised)
    return prepare_for_training(model, device)


def build_components(cfg, *, cpu_amp: str | None = None,
                     load_pretrained: bool = True) -> Components:
    """Model, loaders, SGD, per-iteration LambdaLR, GradScaler and loss of ``cfg``."""
    from regseg.data import build_loaders, class_names
    from regseg.losses import build_loss
    from regseg.optim import build_optimizer
    from regseg.schedules import build_scheduler

    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp = resolve_amp(cfg.mixed_precision, device, cpu_amp)
    model = build_model_for(cfg, device, load_pretrained=load_pretrained)
    train_loader, val_loader = build_loaders(cfg)
    optimizer = build_optimizer(model, lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay,
                                bn_weight_decay=cfg.bn_weight_decay, **optimizer_options(device))
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler,
                                total_iters=len(train_loader) * cfg.schedule_epochs,
                                warmup_iters=cfg.warmup_iters, warmup_factor=cfg.warmup_factor,
                                poly_power=cfg.poly_power, exp_beta=cfg.exp_beta)
    return Components(
        device=device, amp=amp, model=model, optimizer=optimizer, scheduler=scheduler,
        scaler=torch.amp.GradScaler(device.type, enabled=(amp == "fp16")),
        loss_fn=build_loss(cfg.loss_type, ignore_index=cfg.ignore_value, batch_size=cfg.batch_size,
                           crop_size=cfg.train_crop_size),
        train_loader=train_loader, val_loader=val_loader, class_names=list(class_names(cfg)),
        eval_epochs=frozenset(cfg.eval_epochs()))


def evaluate_weights(cfg, weights, *, progress: bool | None = None) -> dict:
    """Evaluate the weights file ``weights`` (loaded strictly into ``cfg.model_name``) on
    ``cfg.val_split``; returns :func:`regseg.engine.evaluate.evaluate`'s dict."""
    from regseg.data import build_loaders, class_names
    from regseg.engine.evaluate import evaluate
    from regseg.models import build_model, load_weights

    device = resolve_device(cfg.device)
    model = build_model(cfg.model_name, num_classes=cfg.num_classes)
    load_weights(model, weights, strict=True)
    # Only the val loader is used; pointing the train split at it avoids requiring a train split.
    _, val_loader = build_loaders(cfg.with_overrides(train_split=cfg.val_split,
                                                     class_uniform_pct=0.0))
    return evaluate(model.to(device), val_loader, num_classes=cfg.num_classes,
                    ignore_index=cfg.ignore_value, device=device,
                    amp=resolve_amp(cfg.mixed_precision, device, None), max_images=cfg.max_eval,
                    class_names=list(class_names(cfg)), exclude_classes=cfg.exclude_classes,
                    progress=progress)
