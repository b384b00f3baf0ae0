"""Runs ``python -m orchestrator.workers.job`` with probes around its engine callbacks and
exits as soon as every ``on_train_start`` has run, i.e. right before the first iteration.

    python benchmarks/_startup_probe.py SPAWNED_AT RESULT.json -- <job arguments>

Writes the phase times (seconds since SPAWNED_AT, the parent's ``time.time()`` just before it
started this process) to RESULT.json. Used by benchmarks/bench_job_startup.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _First:
    """First callback: the model is built and the checkpoint (if any) loaded."""

    def __init__(self, marks: dict) -> None:
        self.marks = marks

    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        self.marks["model_built"] = time.time()


class _Last:
    """Last callback: every other on_train_start has run; record and leave at once."""

    def __init__(self, marks: dict, others: list, result: Path) -> None:
        self.marks, self.others, self.result = marks, others, result

    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        self.marks["first_iteration"] = time.time()
        for cb in self.others:
            if hasattr(cb, "hook_seconds"):
                self.marks["mlflow_on_train_start_s"] = cb.hook_seconds.get("on_train_start")
        self.result.write_text(json.dumps(self.marks))
        os._exit(0)


def main() -> None:
    spawned_at, result = float(sys.argv[1]), Path(sys.argv[2])
    job_argv = sys.argv[sys.argv.index("--") + 1:]
    marks = {"spawned": spawned_at, "interpreter_up": time.time()}
    from orchestrator.workers import job

    marks["job_module_imported"] = time.time()
    original = job._callbacks

    def probed(*args, **kwargs):
        marks["callbacks_made_from"] = time.time()
        others = original(*args, **kwargs)
        marks["callbacks_made"] = time.time()
        return [_First(marks), *others, _Last(marks, others, result)]

    job._callbacks = probed
    sys.exit(job.main(job_argv))


if __name__ == "__main__":
    main()
