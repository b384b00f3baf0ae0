"""A stand-in training job that reports a prescribed metric stream through the real queue
(worker test seam, like quick_job.py): real process, real signals, real queue reports and the
real prune seam (orchestrator.workers.epoch_reports), no training.

Epoch ``e`` of ``epochs`` reports ``final * (e + 1) / epochs`` as mIoU and mIoU^R. ``final``
comes from ``--table`` (JSON ``{model_name: {seed: value}}``) when given, else from a bowl in
log10(lr) peaking at lr = 0.01: ``60 - 10 * (log10(lr) + 2) ** 2``. Stops like the real job:
exit 75 on SIGTERM, 76 (EXIT_PRUNED) when the pruner asked, 0 with the outcome recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from orchestrator import queue
from orchestrator.queue.store import open_store
from orchestrator.workers.epoch_reports import EpochReporter
from orchestrator.workers.job import die_with_parent
from orchestrator.workers.outcomes import EXIT_PRUNED
from regseg.exit_codes import EXIT_INTERRUPTED
from regseg.train import install_stop_handlers


def final_value(config: dict, table: dict | None) -> float:
    if table is not None:
        return float(table[config["model_name"]][str(config["seed"])])
    return 60.0 - 10.0 * (math.log10(config["lr"]) + 2.0) ** 2


def main() -> int:
    p = argparse.ArgumentParser()
    for name in ("--config", "--out", "--db", "--job-id", "--worker-id"):
        p.add_argument(name, required=True)
    p.add_argument("--worker-pid", type=int, required=True)
    p.add_argument("--epoch-seconds", type=float, default=0.2)
    p.add_argument("--table", default=None, help="JSON file {model_name: {seed: final value}}")
    args = p.parse_args()
    stop = install_stop_handlers()
    die_with_parent(args.worker_pid)
    config = json.loads(Path(args.config).read_text())
    table = json.loads(Path(args.table).read_text()) if args.table else None
    final, epochs = final_value(config, table), int(config["epochs"])
    store, job_id = open_store(args.db), int(args.job_id)
    reporter = EpochReporter(store, job_id, args.worker_id, stop, poll_seconds=0.1)
    reporter.on_train_start(None, model=None, start_epoch=0, out_dir=args.out)
    for epoch in range(epochs):
        if stop.wait(args.epoch_seconds):
            break
        reporter.on_epoch_end(epoch, {"mIoU": final * (epoch + 1) / epochs,
                                      "mIoU_reduced": final * (epoch + 1) / epochs})
    reporter.close()
    if reporter.pruned_at is not None:
        queue.record_result(store, job_id, args.worker_id, pruned_epoch=reporter.pruned_at)
        return EXIT_PRUNED
    if stop.is_set():
        return EXIT_INTERRUPTED
    queue.record_result(store, job_id, args.worker_id, best_miou=final, best_miou_reduced=final,
                        best_epoch=epochs - 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
