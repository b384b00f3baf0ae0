"""Evaluation: accumulate a confusion matrix over a loader and derive the paper's metrics."""

from __future__ import annotations

import contextlib
import time
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from regseg.engine.progress import progress_enabled, track
from regseg.errors import TrainingInterrupted
from regseg.metrics import DEFAULT_EXCLUDE_CLASSES, ConfusionMatrix, summarize

__all__ = ["evaluate", "autocast_context", "resolve_device", "AMP_DTYPES"]

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> ``cuda`` when available, else ``cpu``; anything else as given."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_context(device: torch.device, amp: str | None):
    """``torch.autocast`` in ``amp`` (``'fp16'`` | ``'bf16'``) on ``device``, or a no-op for None."""
    if amp is None:
        return contextlib.nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp: expected one of {sorted(AMP_DTYPES)} or None, got {amp!r}")
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: Iterable, *, num_classes: int, ignore_index: int = 255,
             device: str | torch.device = "auto", amp: str | None = None, max_images: int | None = None,
             class_names: Sequence[str] | None = None,
             exclude_classes: Iterable[int] = DEFAULT_EXCLUDE_CLASSES,
             progress: bool | None = None, stop=None) -> dict:
    """Evaluate ``model`` on ``(image[N,3,H,W], label[N,h,w])`` batches; puts the model in eval mode.

    Logits are resized bilinearly (align_corners=False) to the label size, argmax'd and counted
    in a confusion matrix; label pixels equal to ``ignore_index`` (or outside the classes) are
    skipped. At most ``max_images`` images (whole batches; the batch that reaches it is the last).
    Returns ``mIoU``, ``mIoU_reduced``, ``pixel_accuracy``, ``iou/<name>`` (percent, see
    regseg.metrics), ``eval_images``, ``eval_images_per_s``, ``eval_time`` (s) and
    ``confusion_matrix`` (numpy int64). Raises TrainingInterrupted when ``stop`` is set.
    """
    device = resolve_device(device)
    model.eval()
    confusion = ConfusionMatrix(num_classes)
    total = len(loader) if hasattr(loader, "__len__") else None
    seen, start = 0, time.perf_counter()
    for images, labels in track(loader, total=total, desc="eval", enabled=progress_enabled(progress)):
        if stop is not None and stop.is_set():
            raise TrainingInterrupted("stop requested during evaluation")
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast_context(device, amp):
            logits = model(images)
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
