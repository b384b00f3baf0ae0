"""Engine callbacks (docs/CONTRACTS.md): duck-typed objects, every method optional.

```python
class Callback:
    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir): ...
    def on_epoch_end(self, epoch: int, metrics: dict[str, float]): ...
    def on_checkpoint(self, kind: str, path): ...          # kind: last | best | epoch_<k>
    def on_train_end(self, summary: dict): ...
```

``on_epoch_end`` is called before that epoch's ``last`` checkpoint is written, so a crash in
between re-runs (and re-reports) the epoch rather than losing its metrics.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Iterable

__all__ = ["CallbackList", "MetricsJsonl"]

LOG_LINE_KEYS = ("loss", "lr", "mIoU", "mIoU_reduced", "pixel_accuracy", "images_per_s",
                 "epoch_time")


class CallbackList:
    """Calls each hook on every callback that defines it, in order."""

    HOOKS = ("on_train_start", "on_epoch_end", "on_checkpoint", "on_train_end")

    def __init__(self, callbacks: Iterable[Any] = ()):
        self.callbacks = list(callbacks)

    def _call(self, hook: str, *args, **kwargs) -> None:
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args, **kwargs)

    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        self._call("on_train_start", cfg, model=model, start_epoch=start_epoch, out_dir=out_dir)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self._call("on_epoch_end", epoch, metrics)

    def on_checkpoint(self, kind: str, path) -> None:
        self._call("on_checkpoint", kind, path)

    def on_train_end(self, summary: dict) -> None:
        self._call("on_train_end", summary)


def _jsonable(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return value


class MetricsJsonl:
    """A tracking-free record of the run, always added by the engine.

    ``<out>/metrics.jsonl``: one line per epoch, ``{"epoch": e, **metrics}`` (a resumed run may
    repeat an epoch it redid). ``<out>/summary.json``: the summary of ``on_train_end``, the
    confusion matrix as nested lists. NaN (IoU of a class absent from the val set) -> null.
    """

    def __init__(self, out_dir):
        self.path = Path(out_dir) / "metrics.jsonl"
        self.summary_path = Path(out_dir) / "summary.json"

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        row = _jsonable({"epoch": epoch, **metrics})
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        # One human-readable line per epoch on stderr (the job log under a worker; stdout stays
        # clean for `--format json`), in the spirit of the reference's training logs.
        shown = [f"{k} {metrics[k]:.4g}" for k in LOG_LINE_KEYS if metrics.get(k) is not None]
        print(f"epoch {epoch}: " + ", ".join(shown), file=sys.stderr, flush=True)

    def on_train_end(self, summary: dict) -> None:
        self.summary_path.write_text(json.dumps(_jsonable(summary), indent=2) + "\n",
                                     encoding="utf-8")
