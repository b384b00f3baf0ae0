"""``python -m regseg.train --config resolved.(json|yaml) --out DIR``: one training run, no
tracking.

SIGTERM / SIGINT set a stop event: the engine finishes the current iteration, leaves
``<out>/checkpoints/last.pt`` at the latest completed epoch and raises TrainingInterrupted, which
exits with status 75 (EX_TEMPFAIL; docs/CONTRACTS.md). A second SIGINT aborts at once.
Exit statuses: 0 finished, 75 interrupted (resumable), otherwise the error's ``exit_code``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from regseg.exit_codes import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK

__all__ = ["install_stop_handlers", "ignore_stop_signals", "stop_on_signals", "set_threads",
           "run", "run_to_exit", "main", "EXIT_INTERRUPTED"]


def install_stop_handlers(stop: threading.Event | None = None) -> threading.Event:
    """Make SIGTERM and SIGINT set ``stop`` (created when None); returns it. Main thread only.

    A SIGINT arriving after the event is already set raises KeyboardInterrupt (hard abort).
    """
    stop = stop if stop is not None else threading.Event()

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if stop.is_set():  # a second signal of the same stop (a worker and a terminal both
            return  # sending one) changes nothing and is not logged again
        logging.getLogger("regseg.train").warning(
            "%s received: stopping at the next iteration", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def ignore_stop_signals() -> None:
    """Ignore SIGTERM/SIGINT from now on (a process that has handled its stop and is exiting).

    Python's finalization puts the default action back for signals that had a Python handler,
    so a duplicate SIGTERM arriving during the teardown (a worker and a scheduler both sending)
    would kill the process with -15 instead of letting it exit 75; an ignored signal stays
    ignored through the teardown.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """``install_stop_handlers()`` for the duration of a ``with`` block, then the old handlers."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield install_stop_handlers()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given. On a CPU shared with other jobs, 1 thread can
    be many times faster than 2 threads waiting on each other (measured: ~10x on 2 busy cores)."""
    if threads is not None:
        if threads < 1:
            from regseg.errors import ConfigError

            raise ConfigError(f"--threads: expected an integer >= 1, got {threads}")
        import torch

        torch.set_num_threads(threads)


def run(config_path: str | Path, out_dir: str | Path, *, overrides: dict[str, Any] | None = None,
        callbacks: Iterable[Any] = (), stop=None, progress: bool | None = None,
        cpu_amp: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Load the config file (+ overrides), copy it to ``<out>/config.json``, train. Raises.

    ``cpu_amp='bf16'``: bf16 autocast on CPU when the config asks for mixed precision.
    ``threads``: torch's intra-op CPU threads (default: torch's own choice, OMP_NUM_THREADS).
    """
    set_threads(threads)
    from regseg.config import TrainConfig
    from regseg.engine import train

    cfg = TrainConfig.from_file(config_path)
    if overrides:
        cfg = cfg.with_overrides(**overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(cfg.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return train(cfg, out_dir=out, callbacks=callbacks, stop=stop, progress=progress,
                 cpu_amp=cpu_amp)


def run_to_exit(config_path: str | Path, out_dir: str | Path,
                **kwargs: Any) -> tuple[int, dict[str, Any] | None, str | None]:
    """The one "config -> train -> exit status" path (``python -m regseg.train`` and the queue's
    job process): :func:`run`, then ``(status, summary, error)``. Status follows
    regseg.exit_codes: 0 with the summary; 75 interrupted (resumable); a RegsegError's own
    ``exit_code``; 1 for any other exception, whose traceback is printed to stderr. ``error`` is
    one line (``TypeName: message``) for every non-zero status."""
    import traceback

    from regseg.errors import RegsegError, TrainingInterrupted

    try:
        return EXIT_OK, run(config_path, out_dir, **kwargs), None
    except TrainingInterrupted as exc:
        return EXIT_INTERRUPTED, None, f"interrupted: {exc}"
    except RegsegError as exc:
        return exc.exit_code, None, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug or an environment failure: keep the traceback for the log
        traceback.print_exc()
        return EXIT_FAILURE, None, f"{type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m regseg.train``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m regseg.train",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="resolved TrainConfig (.json or .yaml)")
    parser.add_argument("--out", required=True, help="run directory (checkpoints/, metrics.jsonl)")
    parser.add_argument("--no-progress", action="store_true", help="never show progress bars")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Handlers stay until the process exits: restored defaults would let a second SIGTERM that
    # arrives after the stop (worker and scheduler both sending) kill it instead of exiting 75.
    stop = install_stop_handlers()
    status, summary, error = run_to_exit(args.config, args.out, stop=stop, threads=args.threads,
                                         progress=False if args.no_progress else None)
    if status != EXIT_OK:
        print(error if status == EXIT_INTERRUPTED else f"error: {error}", file=sys.stderr)
        return status
    print(f"finished: best mIoU {summary['best_mIoU']:.2f} at epoch {summary['best_epoch']}, "
          f"mIoU_reduced {summary['best_mIoU_reduced']:.2f}")
    return 0


if __name__ == "__main__":
    exit_status = main()
    ignore_stop_signals()
    sys.exit(exit_status)
