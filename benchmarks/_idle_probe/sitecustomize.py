"""Start-up marks of every Python process started with this folder on PYTHONPATH, for
benchmarks/bench_slot_idle.py; does nothing unless $REGSEG_IDLE_PROBE names a folder.

Marks (``time.time()``, seconds): ``started`` (the interpreter runs site), ``first_forward`` (the
first forward of a module in training mode on real tensors: the first training iteration of a
job; the GFLOPs count runs on the meta device in eval mode and is left out) and ``exit`` (the
last atexit handler). A process whose ``sys.argv`` names ``--job-id`` at exit writes
``<folder>/<pid>.json``; any other process (the worker, an unused pre-started one) writes
nothing. It measures the job path of any version of the code alike, so before/after figures
come from the same instrument.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.util
import json
import os
import sys
import time

_FOLDER = os.environ.get("REGSEG_IDLE_PROBE")
_MARKS: dict = {"pid": os.getpid(), "started": time.time()}


def _arg(name: str) -> str | None:
    argv = sys.argv
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _write() -> None:
    job_id = _arg("--job-id")
    if job_id is None or _MARKS["pid"] != os.getpid():
        return
    _MARKS.update(exit=time.time(), job_id=int(job_id), worker_id=_arg("--worker-id"))
    path = os.path.join(_FOLDER, f"{os.getpid()}.json")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(_MARKS, fh)
    os.replace(path + ".tmp", path)


def _watch_forward(torch) -> None:
    handle = None

    def first_forward(module, args):
        real = args and getattr(args[0], "device", None) is not None
        if module.training and real and args[0].device.type != "meta":
            _MARKS.setdefault("first_forward", time.time())
            handle.remove()

    handle = torch.nn.modules.module.register_module_forward_pre_hook(first_forward)


class _TorchWatch(importlib.abc.MetaPathFinder):
    """Installs the forward watch right after ``import torch`` completes."""

    def find_spec(self, name, path, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_watch(module):
            exec_module(module)
            _watch_forward(module)

        spec.loader.exec_module = exec_and_watch
        return spec


if _FOLDER:
    atexit.register(_write)
    sys.meta_path.insert(0, _TorchWatch())
