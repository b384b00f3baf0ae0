"""Segmentation metrics: a bincount confusion matrix and the numbers the paper reports.

Units: every IoU-like number and the pixel accuracy are **percentages (0-100)** (docs/CONTRACTS.md).
Rows of the confusion matrix are ground-truth classes, columns predicted classes; ground-truth
pixels outside ``[0, num_classes)`` (the ignore value 255) are not counted.

A class with no ground-truth pixel and no prediction has an undefined IoU (NaN); the means skip
it, as cityscapesscripts' ``getScoreAverage`` does. On the Cityscapes val set every class is
present, so this equals the reference's plain mean.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

from regseg.data.labels import REDUCED_EXCLUDE as DEFAULT_EXCLUDE_CLASSES

__all__ = ["ConfusionMatrix", "iou_per_class", "mean_iou", "miou_reduced", "pixel_accuracy",
           "summarize", "DEFAULT_EXCLUDE_CLASSES"]


class ConfusionMatrix:
    """Accumulates a ``num_classes x num_classes`` int64 matrix with one bincount per update."""

    def __init__(self, num_classes: int):
        self.num_classes = int(num_classes)
        self.mat = torch.zeros((self.num_classes, self.num_classes), dtype=torch.int64)

    def update(self, target: torch.Tensor, pred: torch.Tensor) -> None:
        """Add pixels: ``target`` and ``pred`` are integer tensors of the same number of
        elements."""
        n = self.num_classes
        target = target.reshape(-1).to(torch.int64)
        pred = pred.reshape(-1).to(torch.int64)
        valid = (target >= 0) & (target < n)
        index = n * target[valid] + pred[valid]
        # bincount runs where the tensors are (GPU during training); only n*n counts move.
        self.mat += torch.bincount(index, minlength=n * n).reshape(n, n).cpu()

    def reset(self) -> None:
        self.mat.zero_()

    def numpy(self) -> np.ndarray:
        """The matrix as a numpy int64 array (rows: ground truth, columns: prediction)."""
        return self.mat.numpy().astype(np.int64, copy=True)


def _as_array(confusion) -> np.ndarray:
    if isinstance(confusion, ConfusionMatrix):
        return confusion.numpy()
    if isinstance(confusion, torch.Tensor):
        return confusion.cpu().numpy().astype(np.int64)
    return np.asarray(confusion, dtype=np.int64)


def iou_per_class(confusion) -> np.ndarray:
    """IoU of every class in percent: ``TP / (TP + FP + FN) * 100``; NaN where undefined."""
    h = _as_array(confusion).astype(np.float64)
    tp = np.diag(h)
    denom = h.sum(axis=1) + h.sum(axis=0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / np.where(denom > 0, denom, 1) * 100.0, np.nan)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def mean_iou(confusion) -> float:
    """Mean IoU over all classes (percent)."""
    return _nanmean(iou_per_class(confusion))


def miou_reduced(confusion, exclude_classes: Iterable[int] = DEFAULT_EXCLUDE_CLASSES) -> float:
    """Mean IoU (percent) over the classes not in ``exclude_classes`` (mIoU^R of the paper)."""
    ious = iou_per_class(confusion)
    excluded = set(int(c) for c in exclude_classes)
    keep = [i for i in range(len(ious)) if i not in excluded]
    return _nanmean(ious[keep])


def pixel_accuracy(confusion) -> float:
    """Correct pixels / counted pixels, in percent (NaN when nothing was counted)."""
    h = _as_array(confusion)
    total = h.sum()
    return float(np.trace(h) / total * 100.0) if total else float("nan")


def summarize(confusion, *, class_names: Sequence[str] | None = None,
              exclude_classes: Iterable[int] = DEFAULT_EXCLUDE_CLASSES) -> dict[str, float]:
    """The metric dict of docs/CONTRACTS.md: mIoU, mIoU_reduced, pixel_accuracy, iou/<class>.

    ``class_names`` default to the class indices as strings.
    """
    ious = iou_per_class(confusion)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(ious))]
    if len(names) != len(ious):
        raise ValueError(f"class_names: expected {len(ious)} names, got {len(names)}")
    metrics = {
        "mIoU": mean_iou(confusion),
        "mIoU_reduced": miou_reduced(confusion, exclude_classes),
        "pixel_accuracy": pixel_accuracy(confusion),
    }
    metrics.update({f"iou/{name}": float(v) for name, v in zip(names, ious)})
    return metrics
