"""One training job, as the worker runs it::

    python -m orchestrator.workers.job --config config.json --out DIR
        [--db URL --job-id N --worker-id W --worker-pid PID] [--tracking-uri URI --run-id ID]
        [--no-log-checkpoints] [--report-fd N]

A thin call into ``regseg.train.run_to_exit`` (the one "config -> train -> exit status" path)
with the MLflow callback and the queue reports added: the start epoch of this attempt and, at the
end, the job's outcome (best mIoU / mIoU^R / epoch, or the error that ended it) go into the job's
queue row through the queue API. Each evaluated epoch's mIoU / mIoU^R also goes to the queue
(orchestrator/workers/epoch_reports.py), where a search driver's pruner can ask the job to stop.
Exit status (regseg.exit_codes): 0 trained to the end; 75 stopped by SIGTERM/SIGINT after writing
``<out>/checkpoints/last.pt``; 76 (EXIT_PRUNED) stopped the same way because the pruner asked;
otherwise failed.

The job dies with its worker: it asks the kernel for SIGTERM when the worker thread that started
it goes away (PR_SET_PDEATHSIG), so a worker killed with SIGKILL leaves no orphan training on.

``--report-fd N``: the write end of the worker's report pipe; the job writes its first training
iteration's time there (orchestrator/workers/first_iteration.py: the slot's idle gap). The same
``run_as_main`` runs in a freshly spawned process and in one the worker pre-started
(orchestrator/workers/standby.py). It exits without the interpreter's module teardown (threads
joined, atexit handlers run, output flushed, then ``os._exit``): tearing down torch,
torchvision and MLflow measured 2-6 s on the project's loaded 2-core machine, all of it slot
idle time before the next job.
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import logging
import math
import os
import signal
import sys
import threading
from typing import Any, NoReturn, Sequence

_PR_SET_PDEATHSIG = 1

log = logging.getLogger("orchestrator.workers.job")


def die_with_parent(parent_pid: int | None, sig: int = signal.SIGTERM) -> None:
    """Have ``sig`` delivered when the parent goes away (Linux only; a no-op elsewhere).

    If the expected parent ``parent_pid`` is already gone, deliver it now (race at start).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.workers.job",
                                     description="Run one queued training job.")
    parser.add_argument("--config", required=True, help="resolved TrainConfig (JSON or YAML)")
    parser.add_argument("--out", required=True, help="job directory (checkpoints, metrics)")
    parser.add_argument("--db", default=None, help="queue database URL (outcome reports)")
    parser.add_argument("--job-id", type=int, default=None)
    parser.add_argument("--worker-id", default=None, help="the worker holding the job")
    parser.add_argument("--worker-pid", type=int, default=None,
                        help="the worker's pid: the job stops when that process is gone")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--run-id", default=None, help="MLflow run to log into")
    parser.add_argument("--no-log-checkpoints", action="store_true",
                        help="log the best checkpoint's path to MLflow, not the file")
    parser.add_argument("--no-sample-images", action="store_true",
                        help="do not predict sample validation images at the best epoch")
    parser.add_argument("--report-fd", type=int, default=None,
                        help="the worker's report pipe: the first iteration's time goes there")
    return parser.parse_args(argv)


class QueueReporter:
    """Engine callback that tells the queue where this attempt started (the outcome is sent by
    :func:`main` once training has returned)."""

    def __init__(self, store: Any, job_id: int, worker_id: str) -> None:
        self.store, self.job_id, self.worker_id = store, job_id, worker_id

    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        from orchestrator import queue

        queue.record_start(self.store, self.job_id, self.worker_id, start_epoch=start_epoch)

    def report(self, summary: dict | None, error: str | None, *,
               pruned_epoch: int | None = None) -> None:
        from orchestrator import queue

        values: dict[str, Any] = {"error": error, "pruned_epoch": pruned_epoch}
        if summary:
            for key, column in (("best_mIoU", "best_miou"),
                                ("best_mIoU_reduced", "best_miou_reduced")):
                value = summary.get(key)
                if isinstance(value, (int, float)) and not math.isnan(value):
                    values[column] = float(value)
            if summary.get("best_epoch") is not None:
                values["best_epoch"] = int(summary["best_epoch"])
        queue.record_result(self.store, self.job_id, self.worker_id, **values)


def _callbacks(args: argparse.Namespace, reporter: QueueReporter | None,
               epochs: Any = None) -> list:
    callbacks: list = [c for c in (reporter, epochs) if c is not None]
    samples = _sample_images(args) if args.run_id and not args.no_sample_images else None
    if samples is not None:
        callbacks.append(samples)
    if args.run_id:
        from orchestrator.tracking import MlflowCallback

        callbacks.append(MlflowCallback(tracking_uri=args.tracking_uri, run_id=args.run_id,
                                        out_dir=args.out,
                                        log_checkpoints=not args.no_log_checkpoints))
    if args.report_fd is not None:  # last: after the callbacks that run a copy of the model
        from orchestrator.workers.first_iteration import FirstIterationReport

        callbacks.append(FirstIterationReport(args.report_fd))
    return callbacks


def _sample_images(args: argparse.Namespace):
    """A fixed handful of validation images (the same indices for every run of a group),
    predicted at each new best epoch into ``<out>/predictions/``; the MLflow callback uploads
    them at the end. Must come before the MLflow callback in the list."""
    from regseg.config import TrainConfig
    from regseg.errors import RegsegError
    from regseg.predict.samples import SampleImagesCallback

    try:
        return SampleImagesCallback.for_config(TrainConfig.from_file(args.config), args.out)
    except RegsegError as exc:  # training reports the same problem with its own exit status
        log.warning("no sample images: %s", exc)
        return None


def _reporter(args: argparse.Namespace) -> QueueReporter | None:
    if not (args.db and args.job_id is not None and args.worker_id):
        return None
    from orchestrator.queue.store import open_store

    return QueueReporter(open_store(args.db), args.job_id, args.worker_id)


def main(argv: Sequence[str] | None = None) -> int:
    from orchestrator.workers.outcomes import EXIT_PRUNED
    from regseg.train import install_stop_handlers, run_to_exit

    args = _parse(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = install_stop_handlers()
    die_with_parent(args.worker_pid)
    reporter = _reporter(args)
    epochs = None
    if reporter is not None:
        from orchestrator.workers.epoch_reports import EpochReporter

        epochs = EpochReporter(reporter.store, args.job_id, args.worker_id, stop)
    status, summary, error = run_to_exit(args.config, args.out, stop=stop, progress=False,
                                         callbacks=_callbacks(args, reporter, epochs))
    pruned_at = epochs.pruned_at if epochs is not None and status != 0 else None
    if pruned_at is not None:
        epochs.close()
        status, error = EXIT_PRUNED, None
        print(f"job: pruned by the search at epoch {pruned_at}", file=sys.stderr, flush=True)
    if error:
        print(f"job: {error}", file=sys.stderr, flush=True)
    if reporter is not None:
        try:
            reporter.report(summary, error, pruned_epoch=pruned_at)
        except Exception as exc:  # the queue is unreachable: the worker still maps the exit status
            log.error("could not record the outcome in the queue: %s", exc)
    return status


def exit_now(status: int) -> NoReturn:
    """Exit with ``status`` as the interpreter would, less its module teardown: non-daemon
    threads joined, atexit handlers run (logging's flush, multiprocessing's children), stdout
    and stderr flushed, then ``os._exit``. Every file the job writes is closed by then."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def run_as_main(argv: Sequence[str] | None = None) -> NoReturn:
    """The job process from start to exit: ``python -m orchestrator.workers.job`` and a
    pre-started process handed a job (orchestrator/workers/standby.py) both run this."""
    from regseg.train import ignore_stop_signals

    status = main(argv)
    ignore_stop_signals()  # a late duplicate stop must not kill the exit (exit 75 stays 75)
    exit_now(status)


if __name__ == "__main__":
    run_as_main()
