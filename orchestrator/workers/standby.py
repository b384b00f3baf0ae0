"""A pre-started job process: the next job's interpreter, imports done, waiting for its job.

    python -m orchestrator.workers.standby --worker-pid PID --prelog FILE [--db URL]
        [--tracking-uri URI]

A worker slot starts one while its current job trains (orchestrator/workers/launch.py), so the
next job skips the several seconds of interpreter start and imports (torch, torchvision, MLflow,
SQLAlchemy, regseg). It imports everything the job module imports and opens the queue store and
the MLflow store the worker's jobs use (``--db``, ``--tracking-uri``: both are cached per URL
within the process, so the job's own ``open_store`` / ``make_client`` find them ready), then
blocks on stdin for one JSON line, the hand-off::

    {"argv": [<the job's arguments>], "log": "<job_dir>/job.log"}

and from then on *is* that job: stdout and stderr go to the job log (what the interpreter
printed while importing, kept in ``FILE``, is copied there first), stdin is /dev/null, and
``orchestrator.workers.job.run_as_main(argv)`` runs with the exit status, signals and queue
reports of ``python -m orchestrator.workers.job`` (docs/CONTRACTS.md). The worker starts it with
the job's environment (``CUDA_VISIBLE_DEVICES``, thread counts) and working directory, so what
the job sees is what a freshly spawned one would.

Never used, it leaves nothing behind: end of stdin (the worker closed the pipe, or died),
SIGTERM (the worker's, or the kernel's PR_SET_PDEATHSIG when the worker thread that started it
goes away) or SIGINT before the hand-off make it delete ``FILE`` and exit at once (end of
stdin: status 0; a signal: killed by it, as a fresh job killed before its handlers would be).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

_STARTED = time.monotonic()

#: Exit status of a standby that was never handed a job (stdin closed or a stop signal).
EXIT_UNUSED = 0


def _forget(prelog: Path) -> None:
    try:
        prelog.unlink()
    except OSError:
        pass


def _leave(prelog: Path) -> None:
    """Never handed a job: exit at once (nothing to tear down: skip the slow finalization)."""
    _forget(prelog)
    os._exit(EXIT_UNUSED)


def _die_of(prelog: Path, signum: int) -> None:
    """A stop signal before the job's own handlers: die of it, as a fresh job would (the worker
    classifies an exit by -signum exactly like a freshly spawned job's)."""
    _forget(prelog)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def preload() -> None:
    """Import what the job process imports before its first iteration (nothing runs)."""
    import PIL.PngImagePlugin  # noqa: F401  (the dataset's images)
    import torch.utils.flop_counter  # noqa: F401

    import orchestrator.queue  # noqa: F401
    import orchestrator.queue.pruning  # noqa: F401
    import orchestrator.queue.store  # noqa: F401
    import orchestrator.tracking  # noqa: F401  (MLflow)
    import orchestrator.workers.epoch_reports  # noqa: F401
    import orchestrator.workers.first_iteration  # noqa: F401
    import orchestrator.workers.job  # noqa: F401
    import orchestrator.workers.outcomes  # noqa: F401
    import regseg.config  # noqa: F401
    import regseg.data.class_uniform  # noqa: F401
    import regseg.data.loaders  # noqa: F401
    import regseg.engine  # noqa: F401  (torch)
    import regseg.engine.setup  # noqa: F401
    import regseg.losses  # noqa: F401
    import regseg.models  # noqa: F401
    import regseg.models.complexity  # noqa: F401
    import regseg.models.complexity_cache  # noqa: F401
    import regseg.optim  # noqa: F401
    import regseg.predict.samples  # noqa: F401  (torchvision)
    import regseg.provenance  # noqa: F401
    import regseg.schedules  # noqa: F401
    import regseg.train  # noqa: F401


def warm_stores(db: str | None, tracking_uri: str | None) -> None:
    """Open the stores the job will open (schema checks done); a failure is left for the job
    to meet and report itself."""
    import logging

    try:
        if db:
            from orchestrator.queue.store import open_store

            open_store(db)
        if tracking_uri:
            from orchestrator.tracking.store import make_client

            make_client(tracking_uri)
    except Exception as exc:
        logging.getLogger("orchestrator.workers.standby").debug("warming the stores: %s", exc)


def _adopt(order: dict, prelog: Path) -> list[str]:
    """Become the job: its log on fds 1 and 2 (after what importing printed), /dev/null on 0."""
    argv = [str(a) for a in order["argv"]]
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        early = prelog.read_bytes()
    except OSError:
        early = b""
    if early:
        os.write(log_fd, early)
    os.write(log_fd, f"== pre-started process {os.getpid()} (up {time.monotonic() - _STARTED:.1f} "
                     f"s) runs this attempt\n".encode())
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    _forget(prelog)
    sys.argv = [sys.argv[0], *argv]
    return argv


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.workers.standby")
    parser.add_argument("--worker-pid", type=int, required=True)
    parser.add_argument("--prelog", required=True, help="where the interpreter's output goes "
                        "until the hand-off")
    parser.add_argument("--db", default=None, help="the queue database the job will report to")
    parser.add_argument("--tracking-uri", default=None, help="the MLflow store it will log to")
    args = parser.parse_args()
    prelog = Path(args.prelog)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: _die_of(prelog, signum))
    from orchestrator.workers.job import die_with_parent

    die_with_parent(args.worker_pid)
    preload()
    warm_stores(args.db, args.tracking_uri)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        _leave(prelog)
    # Default dispositions again: from here a stop signal is the job's (run_as_main installs its
    # handlers first thing, as in a freshly spawned job).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    argv = _adopt(json.loads(line), prelog)
    from orchestrator.workers.job import run_as_main

    run_as_main(argv)


if __name__ == "__main__":
    main()
