"""Evaluation: accumulate a confusion matrix over a loader and derive the paper's metrics."""

from __future__ import annotations

import time
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from regseg.engine.devices import AMP_DTYPES, autocast_context, resolve_device
from regseg.engine.fastpath import eval_logits, prepare_for_eval, to_model_input
from regseg.engine.progress import progress_enabled, track
from regseg.errors import TrainingInterrupted
from regseg.metrics import DEFAULT_EXCLUDE_CLASSES, ConfusionMatrix, summarize

__all__ = ["evaluate", "autocast_context", "resolve_device", "AMP_DTYPES"]


def evaluate(model: torch.nn.Module, loader: Iterable, *, num_classes: int, ignore_index: int = 255,
             device: str | torch.device = "auto", amp: str | None = None,
             max_images: int | None = None,
             class_names: Sequence[str] | None = None,
             exclude_classes: Iterable[int] = DEFAULT_EXCLUDE_CLASSES,
             progress: bool | None = None, stop=None) -> dict:
    """Evaluate ``model`` on ``(image[N,3,H,W], label[N,h,w])`` batches; puts the model in eval
    mode.

    The forward passes run on :func:`regseg.engine.fastpath.prepare_for_eval`'s folded
    channels_last copy under ``torch.inference_mode`` (same logits up to float rounding).

    Logits are resized bilinearly (align_corners=False) to the label size, argmax'd and counted
    in a confusion matrix; label pixels equal to ``ignore_index`` (or outside the classes) are
    skipped. At most ``max_images`` images (whole batches; the batch that reaches it is the last).
    Returns ``mIoU``, ``mIoU_reduced``, ``pixel_accuracy``, ``iou/<name>`` (percent, see
    regseg.metrics), ``eval_images``, ``eval_images_per_s``, ``eval_time`` (s) and
    ``confusion_matrix`` (numpy int64). Raises TrainingInterrupted when ``stop`` is set.
    """
    device = resolve_device(device)
    model.eval()
    with torch.inference_mode():
        return _evaluate(prepare_for_eval(model), loader, num_classes=num_classes,
                         ignore_index=ignore_index, device=device, amp=amp, max_images=max_images,
                         class_names=class_names, exclude_classes=exclude_classes,
                         progress=progress, stop=stop)


def _evaluate(model: torch.nn.Module, loader: Iterable, *, num_classes: int, ignore_index: int,
              device: torch.device, amp: str | None, max_images: int | None,
              class_names: Sequence[str] | None, exclude_classes: Iterable[int],
              progress: bool | None, stop) -> dict:
    confusion = ConfusionMatrix(num_classes)
    total = len(loader) if hasattr(loader, "__len__") else None
    seen, start = 0, time.perf_counter()
    for images, labels in track(loader, total=total, desc="eval",
                                enabled=progress_enabled(progress)):
        if stop is not None and stop.is_set():
            raise TrainingInterrupted("stop requested during evaluation")
        images = to_model_input(images, device)
        labels = labels.to(device, non_blocking=True)
        logits = eval_logits(model, images, device=device, amp=amp)
        if logits.shape[-2:] != labels.shape[-2:]:
            logits = F.interpolate(logits.float(), size=labels.shape[-2:], mode="bilinear",
                                   align_corners=False)
        labels = labels.long()
        labels = torch.where(labels == ignore_index, torch.full_like(labels, -1), labels)
        confusion.update(labels, logits.argmax(1))
        seen += images.shape[0]
        if max_images is not None and seen >= max_images:
            break
    elapsed = time.perf_counter() - start
    metrics = summarize(confusion, class_names=class_names, exclude_classes=exclude_classes)
    metrics.update({"eval_images": seen, "eval_time": elapsed,
                    "eval_images_per_s": seen / elapsed if elapsed > 0 else float("nan"),
                    "confusion_matrix": confusion.numpy()})
    return metrics
