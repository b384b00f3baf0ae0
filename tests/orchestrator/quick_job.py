"""A stand-in for a training job (worker test seam): real process, real signals, fake work.

Resumes from ``<out>/checkpoints/last.txt`` (the step reached), appends ``<attempt> <start
step>`` to ``<out>/resumes.txt``, writes the checkpoint after each step, exits 75 on
SIGTERM/SIGINT, and on success appends its job id to the shared ledger (one line per run). A
job told to fail records its error in its queue row through the queue API, as real jobs do.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from orchestrator.workers.job import die_with_parent
from regseg.exit_codes import EXIT_INTERRUPTED
from regseg.train import install_stop_handlers


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--job-id", required=True)
    p.add_argument("--attempt", required=True)
    p.add_argument("--ledger", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--worker-id", required=True)
    p.add_argument("--worker-pid", type=int, required=True)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--step-seconds", type=float, default=0.0)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--kill-self", action="store_true")
    args = p.parse_args()
    stop = install_stop_handlers()
    die_with_parent(args.worker_pid)
    out = Path(args.out)
    ckpt = out / "checkpoints" / "last.txt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    start = int(ckpt.read_text()) if ckpt.exists() else 0
    with open(out / "resumes.txt", "a") as fh:
        fh.write(f"{args.attempt} {start}\n")
    (out / "cuda_visible_devices.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
    if args.kill_self:
        os.kill(os.getpid(), signal.SIGKILL)
    if args.exit_code:
        from orchestrator import queue
        from orchestrator.queue.store import open_store

        error = f"RuntimeError: quick job told to exit {args.exit_code}"
        queue.record_result(open_store(args.db), int(args.job_id), args.worker_id, error=error)
        print(error, file=sys.stderr)
        return args.exit_code
    for step in range(start, args.steps):
        if stop.is_set():
            return EXIT_INTERRUPTED
        time.sleep(args.step_seconds)
        tmp = ckpt.with_suffix(".tmp")
        tmp.write_text(str(step + 1))
        os.replace(tmp, ckpt)
    fd = os.open(args.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{args.job_id}\n".encode())
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
