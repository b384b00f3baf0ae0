"""The job's side of search pruning: report each evaluated epoch's metrics into the queue and
stop when a pruner asks (docs/CONTRACTS.md, "Pruning through the queue").

The request is seen at two points: in the answer to each epoch report, and by a small thread
that polls the job's row every ``poll_seconds``, so a request made while an epoch is running
stops the job at its next iteration. Stopping is the engine's ordinary stop: the event that
SIGTERM sets, so ``last.pt`` holds the latest completed epoch and a retried job could resume.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

log = logging.getLogger("orchestrator.workers.job")

#: Per-epoch metrics the job reports (names as in the engine's metrics dict).
REPORTED_METRICS = ("mIoU", "mIoU_reduced")


class EpochReporter:
    """Engine callback: evaluated epochs' metrics -> ``queue.report_epoch``; a prune request
    sets ``stop`` (an Event the engine checks every iteration)."""

    def __init__(self, store: Any, job_id: int, worker_id: str, stop: threading.Event, *,
                 poll_seconds: float = 1.0) -> None:
        self.store, self.job_id, self.worker_id = store, job_id, worker_id
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.pruned_at: int | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ engine callback
    def on_train_start(self, cfg, *, model, start_epoch: int, out_dir) -> None:
        self._check()
        self.start_polling()

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        values = {k: float(metrics[k]) for k in REPORTED_METRICS
                  if isinstance(metrics.get(k), (int, float)) and not math.isnan(metrics[k])}
        if values:
            self.report(epoch, values)

    def on_train_end(self, summary: dict) -> None:
        self.close()

    # ------------------------------------------------------------------ reports and requests
    def report(self, epoch: int, values: dict[str, float]) -> None:
        from orchestrator.queue.pruning import report_epoch

        try:
            answer = report_epoch(self.store, self.job_id, self.worker_id, epoch, values)
        except Exception as exc:  # the queue is down: training goes on, the pruner waits
            log.error("could not report epoch %d to the queue: %s", epoch, exc)
            return
        if answer is not None and answer is not False:
            self._stop_at(int(answer))

    def start_polling(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="prune-poll", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._done.set()

    def _poll(self) -> None:
        while not self._done.wait(self.poll_seconds):
            self._check()

    def _check(self) -> None:
        from orchestrator.queue.pruning import prune_requested

        try:
            epoch = prune_requested(self.store, self.job_id)
        except Exception as exc:
            log.warning("could not poll the queue for a prune request: %s", exc)
            return
        if epoch is not None:
            self._stop_at(int(epoch))

    def _stop_at(self, epoch: int) -> None:
        if self.pruned_at is None:
            log.warning("the search's pruner stopped this trial at epoch %d: stopping now", epoch)
            self.pruned_at = epoch
        self._done.set()
        self.stop.set()
