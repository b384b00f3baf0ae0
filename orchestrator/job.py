"""One training job, as the worker runs it: ``python -m orchestrator.job --config config.json
--out DIR [--tracking-uri URI --run-id ID]``.

Exit status: 0 trained to the end; 75 (EX_TEMPFAIL) stopped by SIGTERM/SIGINT after writing
``<out>/checkpoints/last.pt`` (the worker requeues without counting a failure); 1 any error (the
error is printed to stderr, which the worker captures in ``job.log``).

The job dies with its worker: it asks the kernel for SIGTERM when the worker thread that started
it goes away (PR_SET_PDEATHSIG), so a worker killed with SIGKILL leaves no orphan training on.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import traceback
from typing import Sequence

EX_TEMPFAIL = 75
_PR_SET_PDEATHSIG = 1
WORKER_PID_ENV = "REGSEG_WORKER_PID"


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have ``sig`` delivered when the parent goes away (Linux only; a no-op elsewhere).

    If the parent named in $REGSEG_WORKER_PID is already gone, deliver it now (race at start).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    expected = os.environ.get(WORKER_PID_ENV)
    if expected and os.getppid() != int(expected):
        os.kill(os.getpid(), sig)


def install_stop_handlers() -> threading.Event:
    """SIGTERM/SIGINT set the returned event (training checkpoints and stops at the next step)."""
    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        print(f"orchestrator.job: received {signal.Signals(signum).name}; checkpointing and "
              f"stopping", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.job",
                                     description="Run one queued training job.")
    parser.add_argument("--config", required=True, help="resolved TrainConfig (JSON or YAML)")
    parser.add_argument("--out", required=True, help="job directory (checkpoints, metrics)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--run-id", default=None, help="MLflow run to log into")
    return parser.parse_args(argv)


def _callbacks(args: argparse.Namespace) -> list:
    if not args.run_id:
        return []
    from orchestrator.tracking import MlflowCallback

    return [MlflowCallback(tracking_uri=args.tracking_uri, run_id=args.run_id, out_dir=args.out)]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    stop = install_stop_handlers()
    die_with_parent()
    try:
        from regseg.config import TrainConfig
        from regseg.engine import train
        from regseg.errors import TrainingInterrupted

        cfg = TrainConfig.from_file(args.config)
        train(cfg, out_dir=args.out, callbacks=_callbacks(args), stop=stop, progress=False)
    except TrainingInterrupted as exc:
        print(f"orchestrator.job: interrupted: {exc}", file=sys.stderr, flush=True)
        return EX_TEMPFAIL
    except Exception as exc:  # the job's one error report: printed, then exit 1
        traceback.print_exc()
        print(f"orchestrator.job: failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    if stop.is_set():  # stopped after the last step: the run is complete, nothing to resume
        print("orchestrator.job: stop requested after training finished", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
