"""Datasets (Cityscapes, CamVid, synthetic), the reference's transforms and augmentations,
class-uniform sampling and the loader builder.

Public names (imported lazily so ``import regseg.data`` does not pull in torch):
``build_loaders(cfg) -> (train_loader, val_loader)``, ``class_names(cfg)``, ``list_datasets()``,
``list_aug_modes()``, ``make_synthetic(root, *, train, val, size, seed)``, ``CITYSCAPES_CLASSES``,
``CAMVID_CLASSES``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CITYSCAPES_CLASSES": "regseg.data.labels",
    "CAMVID_CLASSES": "regseg.data.labels",
    "make_synthetic": "regseg.data.synthetic",
    "build_loaders": "regseg.data.loaders",
    "build_datasets": "regseg.data.loaders",
    "class_names": "regseg.data.datasets",
    "list_datasets": "regseg.data.datasets",
    "list_aug_modes": "regseg.data.augment",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'regseg.data' has no attribute {name!r}")
