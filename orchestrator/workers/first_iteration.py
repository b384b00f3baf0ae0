"""The job tells its worker when its first training iteration starts (the slot's idle gap ends).

The worker passes ``--report-fd N``, the write end of a pipe; :class:`FirstIterationReport`, an
engine callback, hooks the model's first forward in training mode (the first batch is loaded
and on the device: everything before it is start-up) and writes one JSON line there::

    {"first_iteration": <time.monotonic()>, "start_epoch": <int>}

then closes the pipe. ``time.monotonic`` is CLOCK_MONOTONIC, one clock for every process of the
host, so the worker subtracts its own marks from it. Reporting never stops training: a closed
pipe (the worker is gone) is ignored. The worker reads it in orchestrator/workers/idle.py.
"""

from __future__ import annotations

import json
import os
import time


def report_line(first_iteration: float, start_epoch: int) -> bytes:
    return (json.dumps({"first_iteration": first_iteration, "start_epoch": start_epoch})
            + "\n").encode()


class FirstIterationReport:
    """Engine callback; add it last, after the callbacks that run a model copy at train start
    (the GFLOPs count), so only the training forward trips the hook."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd
        self._handle = None
        self._start_epoch = 0

    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        self._start_epoch = int(start_epoch)
        self._handle = model.register_forward_pre_hook(self._first_forward)

    def _first_forward(self, module, _inputs) -> None:
        if not module.training:
            return
        now = time.monotonic()
        self._handle.remove()
        self.send(now)

    def send(self, first_iteration: float) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            os.write(fd, report_line(first_iteration, self._start_epoch))
        except OSError:  # the worker is gone or stopped listening: nothing to report to
            pass
        finally:
            os.close(fd)

    def on_train_end(self, summary: dict) -> None:
        self.close()

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)
