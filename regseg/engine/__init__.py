"""The training / evaluation engine: ``train(cfg, *, out_dir, callbacks=(), stop=None)`` and
``evaluate(model, loader, *, num_classes, ...)``. Free of any tracking or orchestration import;
callbacks (docs/CONTRACTS.md) are where MLflow plugs in."""

from __future__ import annotations

from regseg.engine.evaluate import evaluate, resolve_device
from regseg.engine.loop import train

__all__ = ["train", "evaluate", "resolve_device"]
