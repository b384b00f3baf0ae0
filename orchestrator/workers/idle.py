"""A slot's idle gap: from the previous job's exit to this job's first training iteration.

The worker keeps the marks (``time.monotonic()``: CLOCK_MONOTONIC, shared by every process of
the host): when the slot became free (the previous job's process exited; a slot that found the
queue empty in between starts counting again at the claim that got the job), the claim, the
launch; the job sends its first-iteration time over the report pipe (first_iteration.py).

- ``idle_s``: free -> first iteration. Only between two jobs of a slot with no wait for work in
  between, which is the GPU time start-up costs (issue #12's target: < 1 s).
- ``startup_s``: claim -> first iteration, for every attempt (a slot's first job included).
The worker logs one line per job, ``slot gpu0 idle 0.82 s before job 7 (...)``, and the figures
go into the job's MLflow run as metrics ``slot_idle_s`` and ``job_startup_s`` (step = attempt).
"""

from __future__ import annotations

import json
import os
import select
from dataclasses import dataclass


@dataclass
class SlotMarks:
    """The worker's marks for one attempt (monotonic seconds; ``free_since`` None: no gap)."""

    free_since: float | None
    claimed_at: float
    launched_at: float | None = None
    prestarted: bool = False


@dataclass(frozen=True)
class IdleGap:
    slot: str
    job_id: int
    attempt: int
    idle_s: float | None      # free -> first iteration (None: the slot had no previous job)
    startup_s: float          # claim -> first iteration
    before_launch_s: float    # claim -> the job's process has its arguments
    prestarted: bool          # the job ran in a pre-started interpreter

    def line(self) -> str:
        how = "pre-started process" if self.prestarted else "fresh process"
        head = (f"slot {self.slot} idle {self.idle_s:.2f} s before job {self.job_id}"
                if self.idle_s is not None else
                f"slot {self.slot} start-up {self.startup_s:.2f} s before job {self.job_id} "
                f"(its first job)")
        return (f"{head}: claim -> launch {self.before_launch_s:.2f} s, launch -> first "
                f"iteration {self.startup_s - self.before_launch_s:.2f} s ({how})")

    def metrics(self) -> dict[str, float]:
        out = {"job_startup_s": self.startup_s}
        if self.idle_s is not None:
            out["slot_idle_s"] = self.idle_s
        return out


def gap(slot: str, job_id: int, attempt: int, marks: SlotMarks, first_iteration: float) -> IdleGap:
    launched = marks.launched_at if marks.launched_at is not None else marks.claimed_at
    return IdleGap(slot=slot, job_id=job_id, attempt=attempt,
                   idle_s=None if marks.free_since is None else first_iteration - marks.free_since,
                   startup_s=first_iteration - marks.claimed_at,
                   before_launch_s=launched - marks.claimed_at, prestarted=marks.prestarted)


class ReportReader:
    """The read end of a job's report pipe, polled without blocking."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self._buffer = b""

    def poll(self) -> dict | None:
        """The job's report once its line is complete, else None (also after end of file)."""
        if self.fd is None:
            return None
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 4096)
            if not chunk:  # the job closed it (or exited) without a complete line
                self.close()
                return None
            self._buffer += chunk
            if b"\n" in self._buffer:
                line = self._buffer.split(b"\n", 1)[0]
                self.close()
                try:
                    report = json.loads(line)
                except ValueError:
                    return None
                return report if isinstance(report, dict) else None
        return None

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def log_gap(client, run_id: str, found: IdleGap) -> None:
    """The figures as metrics of the job's MLflow run (step = attempt). Never raises: a figure
    lost to a tracking error costs nothing else."""
    import logging
    import time

    try:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(key, float(value), stamp, found.attempt)
                                          for key, value in found.metrics().items()])
    except Exception as exc:
        logging.getLogger("orchestrator.workers").warning(
            "slot %s: could not log the idle gap of job %d to MLflow: %s", found.slot,
            found.job_id, exc)
