"""The training loop: ``train(cfg, *, out_dir, callbacks=(), stop=None)``.

Behaviour follows the reference's train.py: seed, build model / loaders / SGD / per-iteration
LambdaLR / GradScaler; per epoch reseed, train, evaluate on ``cfg.eval_epochs()`` (optionally after
precise-BN recalibration), keep the best mIoU, write checkpoints.

Determinism and resume: at the start of every epoch the python, numpy and torch RNGs (and the
train loader's generator, when it has one) are reseeded from ``(cfg.seed, epoch)``, so the data
order and augmentations of an epoch depend only on the seed and the epoch. Resuming from
``last.pt`` therefore continues exactly (bit-identical on CPU). Resume has epoch granularity:
``last.pt`` always holds the state at the end of the latest completed epoch (an initial one,
``epoch = -1``, is written before the first epoch), so a stopped or killed run redoes its partial
epoch, evaluation included.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from regseg.engine import checkpoint as ckpt
from regseg.engine.callbacks import CallbackList, MetricsJsonl
from regseg.engine.evaluate import evaluate
from regseg.engine.fastpath import SYNC_EVERY, to_model_input, train_step
from regseg.engine.progress import progress_enabled, track
from regseg.engine.setup import Components, build_components, seed_epoch, seed_everything
from regseg.errors import TrainingDiverged, TrainingInterrupted

__all__ = ["train"]

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """What changes while training, besides the module/optimiser states."""

    epoch: int = -1                 # last completed epoch (0-based); -1 = none
    iteration: int = 0              # optimiser steps done
    best_miou: float = float("nan")
    best_miou_reduced: float = float("nan")
    best_epoch: int = -1
    confusion: np.ndarray | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)

    def record_eval(self, epoch: int, metrics: dict[str, float]) -> bool:
        """Update the bests; True when this epoch has the best mIoU so far (strictly better)."""
        reduced = metrics["mIoU_reduced"]
        if math.isnan(self.best_miou_reduced) or reduced > self.best_miou_reduced:
            self.best_miou_reduced = reduced
        if self.best_epoch < 0 or metrics["mIoU"] > self.best_miou:
            self.best_miou, self.best_epoch = metrics["mIoU"], epoch
            return True
        return False


def train(cfg, *, out_dir: str | Path, callbacks: Iterable[Any] = (), stop=None,
          stop_after_epoch: int | None = None, progress: bool | None = None,
          cpu_amp: str | None = None) -> dict[str, Any]:
    """Train ``cfg`` (a TrainConfig) into ``out_dir``, resuming from its ``last.pt`` if present.

    ``stop``: Event-like (``is_set()``); when set, training stops at the next iteration boundary
    and raises TrainingInterrupted (``last.pt`` holds the latest completed epoch).
    ``stop_after_epoch``: return after that 0-based epoch is checkpointed (``finished`` False).
    ``progress``: bars on (True), off (False) or when stderr is a terminal (None).
    ``cpu_amp``: ``'bf16'`` to autocast on CPU when ``cfg.mixed_precision`` (default: fp32 on CPU;
    CUDA always uses fp16 + GradScaler when ``cfg.mixed_precision``).
    ``cfg.pretrained_path`` is loaded only when starting fresh (a resumed run has its weights).
    Returns the summary: ``best_mIoU`` and its ``best_epoch``, ``best_mIoU_reduced`` (the highest
    mIoU^R of any evaluated epoch, as the ablation tables take it; NaN when nothing was
    evaluated), ``confusion_matrix`` (latest evaluation, numpy int64, or None),
    ``epochs_completed``,
    ``finished``, ``last_metrics``, ``device``, ``out_dir``.
    Raises TrainingDiverged on a non-finite loss, CheckpointError when no checkpoint loads.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    directory = ckpt.checkpoint_dir(out_dir)
    cbs = CallbackList([MetricsJsonl(out_dir), *callbacks])
    seed_everything(cfg.seed)
    resuming = any((directory / name).exists() for name in ("last.pt", "last.prev.pt"))
    parts = build_components(cfg, cpu_amp=cpu_amp, load_pretrained=not resuming)
    state = _resume_or_start(cfg, parts, directory)
    cbs.on_train_start(cfg, model=parts.model, start_epoch=state.epoch + 1, out_dir=out_dir)
    show = progress_enabled(progress)
    for epoch in range(state.epoch + 1, cfg.epochs):
        _run_epoch(cfg, parts, state, epoch, directory, cbs, stop=stop, show=show)
        if stop_after_epoch is not None and epoch >= stop_after_epoch and epoch < cfg.epochs - 1:
            return _summary(state, parts, out_dir, finished=False)
    summary = _summary(state, parts, out_dir, finished=True)
    cbs.on_train_end(summary)
    return summary


def _run_epoch(cfg, parts: Components, state: RunState, epoch: int, directory: Path,
               cbs: CallbackList, *, stop, show: bool) -> None:
    """Train one epoch, evaluate if scheduled, report, checkpoint."""
    if stop is not None and stop.is_set():
        raise _interrupted(epoch, state)
    seed_epoch(cfg.seed, epoch, parts.train_loader)
    try:
        metrics = _train_one_epoch(cfg, parts, state, epoch, stop=stop, show=show)
        is_best = False
        if epoch in parts.eval_epochs:
            is_best = _evaluate_epoch(cfg, parts, state, epoch, metrics, stop=stop, show=show)
    except TrainingInterrupted:
        raise _interrupted(epoch, state) from None
    state.epoch, state.last_metrics = epoch, metrics
    cbs.on_epoch_end(epoch, metrics)
    payload = _payload(cfg, parts, state)
    if is_best:
        cbs.on_checkpoint("best", ckpt.atomic_save(payload, directory / "best.pt"))
    cbs.on_checkpoint("last", ckpt.save_last(payload, directory))
    k = cfg.save_every_k_epochs
    if k and (epoch + 1) % k == 0:
        cbs.on_checkpoint(f"epoch_{epoch}", ckpt.atomic_save(payload,
                                                             directory / f"epoch_{epoch}.pt"))


def _interrupted(epoch: int, state: RunState) -> TrainingInterrupted:
    return TrainingInterrupted(f"stopped during epoch {epoch}; last.pt holds epoch {state.epoch}, "
                               f"a resumed run restarts at epoch {state.epoch + 1}")


def _train_one_epoch(cfg, parts: Components, state: RunState, epoch: int, *, stop,
                     show: bool) -> dict[str, float]:
    """One pass over the train loader; returns loss, lr, images_per_s, epoch_time.

    Losses stay on the device; the host reads them once every ``SYNC_EVERY`` iterations and at
    the end of the epoch (the divergence check, then the epoch mean).
    """
    model, loader = parts.model, parts.train_loader
    model.train()
    losses = torch.zeros(len(loader), dtype=torch.float32, device=parts.device)
    batches, images_seen, checked = 0, 0, 0
    start = time.perf_counter()
    for t, (images, labels) in enumerate(track(loader, total=len(loader), desc=f"epoch {epoch}",
                                               enabled=show)):
        if stop is not None and stop.is_set():
            raise TrainingInterrupted(f"stop requested at epoch {epoch}, iteration {t}")
        images = to_model_input(images, parts.device)
        labels = labels.to(parts.device, non_blocking=True).long()
        losses[t] = train_step(model, images, labels, loss_fn=parts.loss_fn,
                               optimizer=parts.optimizer, scaler=parts.scaler,
                               device=parts.device, amp=parts.amp)
        parts.scheduler.step()
        state.iteration += 1
        batches, images_seen = batches + 1, images_seen + images.shape[0]
        if batches - checked >= SYNC_EVERY:
            _check_finite(losses, checked, batches, epoch, state)
            checked = batches
    _check_finite(losses, checked, batches, epoch, state)
    mean_loss = losses[:batches].double().sum().item() / max(batches, 1)
    elapsed = time.perf_counter() - start
    return {"loss": mean_loss, "lr": float(parts.scheduler.get_last_lr()[-1]),
            "images_per_s": images_seen / elapsed if elapsed > 0 else float("nan"),
            "epoch_time": elapsed}


def _check_finite(losses: torch.Tensor, begin: int, end: int, epoch: int, state: RunState) -> None:
    """Raise TrainingDiverged naming the first non-finite loss among iterations [begin, end)."""
    window = losses[begin:end]
    if end <= begin or bool(torch.isfinite(window).all()):
        return
    t = begin + int(torch.nonzero(~torch.isfinite(window))[0, 0])
    value = float(losses[t])
    global_iteration = state.iteration - (end - t)
    raise TrainingDiverged(f"loss: expected a finite value, got {value} at epoch {epoch}, "
                           f"iteration {t} (global iteration {global_iteration})")


def _evaluate_epoch(cfg, parts: Components, state: RunState, epoch: int, metrics: dict[str, float],
                    *, stop, show: bool) -> bool:
    """Precise BN (optional) + evaluation; adds the eval metrics; True if the best mIoU so far."""
    if cfg.bn_precise_stats:
        from regseg.precise_bn import recompute_bn_stats

        recompute_bn_stats(parts.model, parts.train_loader, cfg.bn_precise_num_samples,
                           device=parts.device, stop=stop)
        if stop is not None and stop.is_set():
            raise TrainingInterrupted("stop requested during precise-BN recalibration")
    result = evaluate(parts.model, parts.val_loader, num_classes=cfg.num_classes,
                      ignore_index=cfg.ignore_value, device=parts.device, amp=parts.amp,
                      max_images=cfg.max_eval, class_names=parts.class_names,
                      exclude_classes=cfg.exclude_classes, progress=show, stop=stop)
    state.confusion = result.pop("confusion_matrix")
    metrics.update({k: float(v) for k, v in result.items()})
    return state.record_eval(epoch, metrics)


def _payload(cfg, parts: Components, state: RunState) -> dict[str, Any]:
    """The checkpoint dict (see regseg.engine.checkpoint for the keys)."""
    return {
        "format": ckpt.CHECKPOINT_FORMAT,
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "epoch": state.epoch,
        "iteration": state.iteration,
        "best_mIoU": state.best_miou,
        "best_mIoU_reduced": state.best_miou_reduced,
        "best_epoch": state.best_epoch,
        "confusion_matrix": None if state.confusion is None else torch.from_numpy(state.confusion),
        "rng": ckpt.capture_rng(parts.loader_generator),
        "config": cfg.model_dump(mode="json"),
    }


def _resume_or_start(cfg, parts: Components, directory: Path) -> RunState:
    """Load ``last.pt`` (or its fallback) into ``parts``; or write the initial ``last.pt``."""
    found = ckpt.load_resume(directory)
    if found is None:  # the initial state, so a run stopped in epoch 0 also leaves a last.pt
        state = RunState()
        ckpt.save_last(_payload(cfg, parts, state), directory)
        return state
    payload, path = found
    _warn_config_drift(cfg, payload.get("config") or {}, path)
    parts.load_state(payload)
    cm = payload.get("confusion_matrix")
    state = RunState(epoch=int(payload["epoch"]), iteration=int(payload.get("iteration", 0)),
                     best_miou=float(payload.get("best_mIoU", float("nan"))),
                     best_miou_reduced=float(payload.get("best_mIoU_reduced", float("nan"))),
                     best_epoch=int(payload.get("best_epoch", -1)),
                     confusion=None if cm is None else cm.numpy().astype(np.int64))
    if payload.get("rng"):
        ckpt.restore_rng(payload["rng"], parts.loader_generator)
    log.info("resuming at epoch %d from %s", state.epoch + 1, path)
    return state


# Fields that may differ between attempts of one run without changing its results.
_DRIFT_OK = frozenset({"device", "num_workers", "dataset_dir"})


def _warn_config_drift(cfg, saved: dict, path: Path) -> None:
    current = cfg.model_dump(mode="json")
    changed = sorted(k for k in current
                     if k not in _DRIFT_OK and k in saved and saved[k] != current[k])
    if changed:
        log.warning("resuming %s with a different config; changed fields: %s", path,
                    ", ".join(changed))


def _summary(state: RunState, parts: Components, out_dir: Path, *, finished: bool) -> dict[str,
                                                                                           Any]:
    return {
        "best_mIoU": state.best_miou,
        "best_mIoU_reduced": state.best_miou_reduced,
        "best_epoch": state.best_epoch,
        "confusion_matrix": state.confusion,
        "epochs_completed": state.epoch + 1,
        "finished": finished,
        "last_metrics": dict(state.last_metrics),
        "device": str(parts.device),
        "out_dir": str(out_dir),
    }
