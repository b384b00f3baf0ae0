"""A durable write-ahead buffer of MLflow writes for one run, drained in order.

Every write (a batch of metrics, params, tags, artifact uploads) is first appended to
``<out>/mlflow_buffer.jsonl`` and fsynced, then sent; it leaves the file only once the tracking
store acknowledged it. A tracking-server outage therefore neither stalls training nor loses data:
a send fails fast (short HTTP timeout, see tracking_store), the record stays in the file, and the
next flush replays the file in order - at a later epoch (after a back-off), at the end of training,
at the start of the next attempt, or from ``Tracker.finish_run(..., out_dir=...)``.

Replays are idempotent. Metrics are deduplicated by (key, step) against what the run already holds:
the run's history is read once per process, and re-read after any failed send because a request
that timed out may still have been applied. Params, tags and artifact uploads are idempotent writes.

Record (one JSON object per line): ``{"metrics": [[key, value, timestamp_ms, step], ...],
"params": {k: v}, "tags": {k: v}, "artifacts": [[local_path, artifact_dir_or_null], ...]}``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

BUFFER_NAME = "mlflow_buffer.jsonl"
REJECTED_NAME = "mlflow_buffer.rejected.jsonl"

# MLflow error codes that no retry can fix: the record is moved to the rejected file instead of
# blocking everything queued behind it.
PERMANENT_ERRORS = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST",
                              "INVALID_STATE"})


def _fsync_write(path: Path, text: str, *, mode: str) -> None:
    with open(path, mode, encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def error_code(exc: BaseException) -> str | None:
    return getattr(exc, "error_code", None)


class RunSink:
    """Ordered, durable, idempotent delivery of one run's writes to an MLflow client.

    ``client`` is an ``MlflowClient``; ``retry_interval_s`` is the first back-off after a failed
    send (doubled per failure up to ``max_retry_interval_s``) so an outage costs at most one fast
    failure per interval, not one per epoch.
    """

    def __init__(self, client, run_id: str, buffer_path: str | os.PathLike, *,
                 retry_interval_s: float = 5.0, max_retry_interval_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.run_id = run_id
        self.path = Path(buffer_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._retry_interval = retry_interval_s
        self._max_retry_interval = max_retry_interval_s
        self._clock = clock
        self._failures = 0
        self._next_try = 0.0
        self._logged: dict[str, set[int]] | None = None  # key -> steps the store holds
        self.send_seconds = 0.0  # time spent talking to the store (for the overhead benchmark)

    # ---- writing ------------------------------------------------------------------------
    def submit(self, *, metrics: Iterable[tuple[str, float, int]] = (),
               params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
               artifacts: Iterable[tuple[str, str | None]] = (), flush: bool = True) -> bool:
        """Append one record (metrics as (key, value, step)) durably, then try to flush.

        Returns True when everything buffered reached the store.
        """
        now_ms = int(time.time() * 1000)
        record = {
            "metrics": [[k, float(v), now_ms, int(step)] for k, v, step in metrics],
            "params": {k: str(v) for k, v in (params or {}).items()},
            "tags": {k: str(v) for k, v in (tags or {}).items()},
            "artifacts": [[str(p), a] for p, a in artifacts],
        }
        _fsync_write(self.path, self._line_start() + json.dumps(record) + "\n", mode="a")
        return self.flush() if flush else False

    def _line_start(self) -> str:
        """"\n" when the buffer ends in a torn line, so the next record is not glued onto it."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                return "" if fh.read(1) == b"\n" else "\n"
        except OSError:  # missing or empty file
            return ""

    # ---- draining -----------------------------------------------------------------------
    def pending(self) -> list[dict[str, Any]]:
        """The records not yet acknowledged, in order (a torn last line is skipped)."""
        if not self.path.exists():
            return []
        records = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # torn write from a killed process: it was never sent
                log.warning("skipping unreadable line %d of %s", n, self.path)
        return records

    def flush(self, *, force: bool = False) -> bool:
        """Send every pending record in order; True when the buffer is empty afterwards.

        Without ``force`` a flush inside the back-off window after a failure does nothing.
        """
        records = self.pending()
        if not records:
            return True
        if not force and self._clock() < self._next_try:
            return False
        done = 0
        started = time.perf_counter()
        try:
            for record in records:
                self._send(record)
                done += 1
        except Exception as exc:  # tracking must never stop training: keep the rest buffered
            return self._after_failure(records, done, exc)
        finally:
            self.send_seconds += time.perf_counter() - started
        self._rewrite([])
        self._failures = 0
        self._next_try = 0.0
        return True

    def _after_failure(self, records: list[dict], done: int, exc: Exception) -> bool:
        self._logged = None  # a timed-out request may have been applied: re-read before resending
        if error_code(exc) in PERMANENT_ERRORS:
            log.warning("MLflow rejected a buffered record for run %s (%s); moved to %s",
                        self.run_id, exc, REJECTED_NAME)
            _fsync_write(self.path.with_name(REJECTED_NAME), json.dumps(records[done]) + "\n",
                         mode="a")
            self._rewrite(records[done + 1:])
            return self.flush(force=True)
        self._rewrite(records[done:])
        self._failures += 1
        delay = min(self._retry_interval * 2 ** (self._failures - 1), self._max_retry_interval)
        self._next_try = self._clock() + delay
        log.warning("MLflow unreachable for run %s (%s: %s); %d record(s) buffered in %s, "
                    "next try in %.0f s", self.run_id, type(exc).__name__, str(exc)[:200],
                    len(records) - done, self.path, delay)
        return False

    def _rewrite(self, records: list[dict]) -> None:
        if not records:
            if self.path.exists() and self.path.stat().st_size:
                with open(self.path, "r+", encoding="utf-8") as fh:
                    fh.truncate(0)
                    os.fsync(fh.fileno())
            return
        tmp = self.path.with_suffix(".tmp")
        _fsync_write(tmp, "".join(json.dumps(r) + "\n" for r in records), mode="w")
        os.replace(tmp, self.path)

    # ---- one record ---------------------------------------------------------------------
    def _send(self, record: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        fresh = self._fresh_metrics(record["metrics"])
        metrics = [Metric(key=k, value=v, timestamp=ts, step=s) for k, v, ts, s in fresh]
        params = [Param(k, v) for k, v in record["params"].items()]
        tags = [RunTag(k, v) for k, v in record["tags"].items()]
        if metrics or params or tags:
            self.client.log_batch(self.run_id, metrics=metrics, params=params, tags=tags)
        for k, _v, _ts, step in fresh:
            self._logged.setdefault(k, set()).add(step)
        for local_path, artifact_path in record["artifacts"]:
            if Path(local_path).exists():
                self.client.log_artifact(self.run_id, local_path, artifact_path)
            else:
                log.warning("artifact %s vanished before upload; skipped", local_path)

    def _fresh_metrics(self, metrics: list[list]) -> list[list]:
        """The (key, step) pairs the run does not hold yet (first occurrence wins)."""
        logged = self._known_steps({m[0] for m in metrics})
        fresh, seen = [], set()
        for m in metrics:
            key, step = m[0], m[3]
            if step in logged.get(key, ()) or (key, step) in seen:
                continue
            seen.add((key, step))
            fresh.append(m)
        return fresh

    def _known_steps(self, keys: set[str]) -> dict[str, set[int]]:
        if self._logged is None:  # one get_run per process (and after failures)
            run = self.client.get_run(self.run_id)
            self._logged = {k: None for k in run.data.metrics}  # None = history not read yet
        for key in keys:
            if key in self._logged and self._logged[key] is None:
                history = self.client.get_metric_history(self.run_id, key)
                self._logged[key] = {m.step for m in history}
        return {k: v for k, v in self._logged.items() if v is not None}
