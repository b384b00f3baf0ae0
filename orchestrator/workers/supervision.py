"""The worker: slots claim jobs from the queue and supervise one job subprocess each.

Each slot loops: reap expired leases, claim the next job, prepare its directory (config, the
latest checkpoint: local, else fetched from the MLflow run, else none), run it as ``python -m
orchestrator.workers.job`` with ``CUDA_VISIBLE_DEVICES`` set to the slot's GPU ("" on CPU slots),
heartbeat while it runs, then move the job to its state from the exit status
(orchestrator/workers/outcomes.py, after_job.py). A slot takes the next job as soon as its job ends.

Pre-starting (``WorkerOptions.prestart``, on by default): once a slot's job reports its first
iteration, the slot starts the next job's interpreter with the imports done
(orchestrator/workers/launch.py, standby.py), so the next job starts without them. The slot's
idle gap between two jobs (previous exit -> first iteration) is logged per job and goes into the
job's MLflow run (orchestrator/workers/idle.py).

The worker owns the MLflow run's lifecycle (create or resume at launch, close at the end, a new
run when an attempt must start over); the job only logs into it (docs/CONTRACTS.md).

SIGTERM/SIGINT to the worker (or SLURM's warning signal before a preemption or time limit):
slots stop claiming, SIGTERM is forwarded to every running job, each job checkpoints and exits
75, is requeued without an attempt penalty; the worker exits 0.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import queue
from orchestrator.paths import state_dir
from orchestrator.queue.store import Store
from orchestrator.workers.after_job import record_outcome, review_arms, with_retries
from orchestrator.workers.idle import IdleGap, ReportReader, SlotMarks, gap, log_gap
from orchestrator.workers.launch import Launcher
from orchestrator.workers.outcomes import classify
from orchestrator.workers.run_tracking import TrackingUnavailable, make_tracker, start_tracking
from orchestrator.workers.slots import Slot, slot_thread_env

log = logging.getLogger("orchestrator.workers")
GAP_LOG_WAIT_S = 5.0  # the job has ended: how long its idle-gap metric may still take
TRACKING_BACKOFF_S = 5.0  # a slot whose job could not get its MLflow run waits this long
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)  # USR: SLURM warning


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = 60.0
    max_jobs: int | None = None
    exit_when_empty: bool = False
    poll_seconds: float = 2.0
    kill_grace_seconds: float = 30.0  # after a lost lease / cancel: SIGTERM, then SIGKILL
    tracking: bool = True
    tracking_uri: str | None = None
    log_checkpoints: bool = True  # False: only the best checkpoint's path goes to MLflow
    sample_images: bool = True  # False: no sample predictions logged under predictions/
    state_dir: Path | None = None
    # Start each slot's next job process (imports done) while the current job trains.
    prestart: bool = True
    # Replaces the training command (tests run many quick real subprocesses with it): an argv
    # template with {python}, {config}, {out}, {job_id}, {attempt}, {db}, {worker_id},
    # {worker_pid}.
    job_command: tuple[str, ...] | None = None


@dataclass
class _Running:
    proc: subprocess.Popen
    job: queue.ClaimedJob
    worker_id: str
    slot: Slot | None = None
    launcher: Launcher | None = None
    report: ReportReader = field(default_factory=lambda: ReportReader(None))
    marks: SlotMarks | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    run_id: str | None = None
    gap: IdleGap | None = None
    gap_logger: threading.Thread | None = None
    lost: bool = False
    term_sent: bool = False
    kill_at: float | None = None
    next_beat: float = field(default_factory=time.monotonic)


class Worker:
    """Runs queued jobs on ``slots`` until stopped, ``max_jobs`` is reached, or (with
    ``exit_when_empty``) nothing is queued or running any more."""

    def __init__(self, store: Store, slots: list[Slot], options: WorkerOptions = WorkerOptions()):
        self.store = store
        self.slots = slots
        self.options = options
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}"
        self.slurm_job_id = _slurm_job_id()
        self.stop = threading.Event()
        self.state_dir = options.state_dir or state_dir()
        self.tracker = make_tracker(options.tracking, options.tracking_uri)
        self.finished: list[tuple[int, str]] = []  # (job id, outcome), for callers and tests
        self.idle_gaps: list[IdleGap] = []  # one per job that reached its first iteration
        self._lock = threading.Lock()
        self._claimed = 0
        self._next_reap = 0.0

    # ------------------------------------------------------------------ lifecycle
    def request_stop(self, signum: int | None = None, _frame: object = None) -> None:
        if signum is not None:
            log.warning("worker %s: %s received; stopping (running jobs checkpoint and are "
                        "requeued)", self.id, signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> int:
        """Run the slots until done; returns the exit status (0)."""
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, self.request_stop)
        threads = [threading.Thread(target=self._slot_main, args=(slot,), name=slot.name,
                                    daemon=True) for slot in self.slots]
        log.info("worker %s: %d slot(s): %s", self.id, len(threads),
                 ", ".join(s.name for s in self.slots))
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.2)
        return 0

    # ------------------------------------------------------------------ slot loop
    def _take_budget(self) -> bool:
        with self._lock:
            if self.options.max_jobs is not None and self._claimed >= self.options.max_jobs:
                return False
            self._claimed += 1
            return True

    def _return_budget(self) -> None:
        with self._lock:
            self._claimed -= 1

    def _may_claim_more(self) -> bool:
        with self._lock:
            budget = self.options.max_jobs is None or self._claimed < self.options.max_jobs
        return budget and not self.stop.is_set()

    def _maybe_reap(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next_reap:
                return
            self._next_reap = now + max(0.5, self.options.lease_seconds / 2)
        for job_id, state in queue.reap(self.store):
            log.warning("worker %s: job %d lost its lease -> %s", self.id, job_id, state)

    def _slot_main(self, slot: Slot) -> None:
        launcher = Launcher(state_dir=self.state_dir, name=slot.name,
                            prestart=self.options.prestart and not self.options.job_command)
        try:
            self._slot_loop(slot, launcher)
        finally:
            launcher.close()  # an unused pre-started process goes with the slot

    def _slot_loop(self, slot: Slot, launcher: Launcher) -> None:
        worker_id = f"{self.id}/{slot.name}"
        free_since: float | None = None  # the previous job's exit, while no wait for work
        while not self.stop.is_set():
            if not self._take_budget():
                return
            claimed_at = time.monotonic()
            try:
                self._maybe_reap()
                job = queue.claim(self.store, worker_id, lease_seconds=self.options.lease_seconds,
                                  host=self.host, slot=slot.name, slurm_job_id=self.slurm_job_id)
            except Exception as exc:  # database hiccup: keep the slot alive, try again
                self._return_budget()
                log.error("worker %s: claim failed: %s", worker_id, exc)
                self.stop.wait(self.options.poll_seconds)
                continue
            if job is None:
                self._return_budget()
                free_since = None  # waiting for work is not start-up
                if self.options.exit_when_empty and not self._pending():
                    return
                self.stop.wait(self.options.poll_seconds)
                continue
            try:
                ended = self._run_job(slot, job, worker_id, launcher,
                                      SlotMarks(free_since=free_since, claimed_at=claimed_at))
                free_since = ended if ended is not None else free_since
            except TrackingUnavailable as exc:  # the job is queued again; give the store time
                free_since = None
                log.warning("worker %s: job %d back in the queue, the tracking store is "
                            "unavailable (%s); next claim in %.0f s", worker_id, job.id, exc,
                            TRACKING_BACKOFF_S)
                self.stop.wait(max(self.options.poll_seconds, TRACKING_BACKOFF_S))
            except Exception:  # e.g. the database is gone: the lease runs out, the job is reaped
                free_since = None
                log.exception("worker %s: job %d: could not run or record it", worker_id, job.id)
                self.stop.wait(self.options.poll_seconds)

    def _pending(self) -> bool:
        try:
            return queue.has_pending(self.store)
        except Exception as exc:  # unknown: assume there is work, poll again
            log.error("worker %s: queue check failed: %s", self.id, exc)
            return True

    # ------------------------------------------------------------------ one job
    def _run_job(self, slot: Slot, job: queue.ClaimedJob, worker_id: str,
                 launcher: Launcher | None = None, marks: SlotMarks | None = None) -> float | None:
        """Prepare, launch, supervise and record one attempt; returns when its process exited
        (monotonic), None when it was never launched. Without ``launcher``: a fresh process,
        nothing pre-started."""
        if launcher is None:
            launcher = Launcher(state_dir=self.state_dir, name=slot.name, prestart=False)
        marks = marks or SlotMarks(free_since=None, claimed_at=time.monotonic())
        job_dir = self.state_dir / "jobs" / str(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        config_path = job_dir / "config.json"
        config_path.write_text(json.dumps(job.config, indent=2, sort_keys=True) + "\n")
        if not queue.record(self.store, job.id, worker_id, job_dir=str(job_dir)):
            return None  # cancelled (or reaped) since the claim: never launch it
        job_log = job_dir / "job.log"
        with open(job_log, "ab") as out:
            out.write(f"== attempt {job.attempt} on {worker_id} ({slot.name}, "
                      f"CUDA_VISIBLE_DEVICES={slot.cuda_visible_devices!r})\n".encode())
        run_id = self._start_tracking(job, worker_id, job_dir)
        if run_id is False:
            return None
        if self.stop.is_set():  # stopped between claim and launch: hand the job straight back
            queue.requeue_interrupted(self.store, job.id, worker_id, "worker stopped before launch")
            return None
        argv = self._argv(job, config_path, job_dir, run_id, worker_id)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": slot.cuda_visible_devices,
               **slot_thread_env(slot, self.slots, os.environ)}
        cwd = job.project_dir if job.project_dir and Path(job.project_dir).is_dir() else None
        log.info("worker %s: job %d attempt %d (%s %s) started", worker_id, job.id, job.attempt,
                 job.spec_name, job.label)
        try:
            launched = launcher.launch(argv, env=env, cwd=cwd, log_path=job_log,
                                       report=not self.options.job_command)
        except OSError as exc:
            state = queue.fail(self.store, job.id, worker_id, f"cannot start the job: {exc}")
            log.error("worker %s: job %d: cannot start (%s) -> %s", worker_id, job.id, exc,
                      state)
            return None
        marks.launched_at, marks.prestarted = time.monotonic(), launched.prestarted
        running = _Running(proc=launched.proc, job=job, worker_id=worker_id, slot=slot,
                           launcher=launcher, report=ReportReader(launched.report_fd),
                           marks=marks, env=env, cwd=cwd, run_id=run_id)
        try:
            rc = self._supervise(running)
        finally:
            running.report.close()
        ended = time.monotonic()
        if running.gap_logger is not None:  # long done unless the tracking store hangs
            running.gap_logger.join(timeout=GAP_LOG_WAIT_S)
        if self._may_claim_more():  # no report came (it failed early?): pre-start it now
            self._prestart(launcher, env, cwd)
        with_retries(lambda: self._record_outcome(running, rc, job_dir, run_id),
                     f"worker {worker_id}: recording job {job.id}")
        return ended

    def _record_outcome(self, running: _Running, rc: int, job_dir: Path,
                        run_id: str | None) -> None:
        outcome = classify(rc, term_sent=running.term_sent, lost=running.lost)
        result = record_outcome(self.store, self.tracker, running.job, running.worker_id, rc,
                                outcome, run_id=run_id, job_dir=job_dir, who=self.id)
        with self._lock:
            self.finished.append((running.job.id, result))
        review_arms(self.store, running.job, self.tracker)  # adaptive seeds: maybe cancel the rest

    def _argv(self, job: queue.ClaimedJob, config: Path, job_dir: Path, run_id: str | None,
              worker_id: str) -> list:
        if self.options.job_command:
            values = {"python": sys.executable, "config": str(config), "out": str(job_dir),
                      "job_id": str(job.id), "attempt": str(job.attempt), "db": self.store.url,
                      "worker_id": worker_id, "worker_pid": str(os.getpid())}
            return [part.format(**values) for part in self.options.job_command]
        argv = [sys.executable, "-m", "orchestrator.workers.job", "--config", str(config),
                "--out", str(job_dir), "--db", self.store.url, "--job-id", str(job.id),
                "--worker-id", worker_id, "--worker-pid", str(os.getpid())]
        if run_id:
            argv += ["--run-id", run_id, "--tracking-uri", str(self.tracker.tracking_uri)]
            if not self.options.log_checkpoints:
                argv.append("--no-log-checkpoints")
            if not self.options.sample_images:
                argv.append("--no-sample-images")
        return argv

    def _start_tracking(self, job: queue.ClaimedJob, worker_id: str,
                        job_dir: Path) -> str | None | bool:
        return start_tracking(self.store, self.tracker, job, worker_id, job_dir)

    def _supervise(self, running: _Running) -> int:
        """Wait for the job, heartbeating; forward a stop; stop the job if its lease is lost."""
        interval = max(0.2, self.options.lease_seconds / 3)
        while True:
            try:
                rc = running.proc.wait(timeout=0.2)
                self._check_report(running)  # it may have reported and exited within 0.2 s
                return rc
            except subprocess.TimeoutExpired:
                pass
            self._check_report(running)
            now = time.monotonic()
            if self.stop.is_set() and not running.term_sent:
                running.proc.send_signal(signal.SIGTERM)
                running.term_sent = True
            if now >= running.next_beat and not running.lost:
                running.next_beat = now + interval
                self._beat(running)
            if running.kill_at is not None and now >= running.kill_at:
                running.proc.kill()
                running.kill_at = None

    def _check_report(self, running: _Running) -> None:
        """The job's first-iteration report: log the slot's idle gap and, the job's start-up
        being over, pre-start the process of the slot's next job."""
        report = running.report.poll()
        if not report or running.marks is None or running.slot is None:
            return
        first = report.get("first_iteration")
        if not isinstance(first, (int, float)):
            return
        running.gap = gap(running.slot.name, running.job.id, running.job.attempt, running.marks,
                          float(first))
        log.info("worker %s: %s", running.worker_id, running.gap.line())
        with self._lock:
            self.idle_gaps.append(running.gap)
        client = getattr(self.tracker, "client", None)
        if running.run_id and client is not None:  # in a thread: a slow store delays no beat
            running.gap_logger = threading.Thread(target=log_gap, daemon=True,
                                                  args=(client, running.run_id, running.gap))
            running.gap_logger.start()
        if running.launcher is not None and self._may_claim_more():
            self._prestart(running.launcher, running.env, running.cwd)

    def _prestart(self, launcher: Launcher, env: dict[str, str], cwd: str | None) -> None:
        uri = str(self.tracker.tracking_uri) if getattr(self.tracker, "tracking_uri", None) \
            else None
        launcher.prestart(env=env, cwd=cwd, db=self.store.url, tracking_uri=uri)

    def _beat(self, running: _Running) -> None:
        job = running.job
        try:
            held = queue.heartbeat(self.store, job.id, running.worker_id,
                                   lease_seconds=self.options.lease_seconds)
        except Exception as exc:  # the lease may run out; the reaper then requeues the job
            log.error("worker %s: heartbeat of job %d failed: %s", running.worker_id, job.id, exc)
            return
        if not held:
            log.warning("worker %s: job %d is no longer ours (cancelled or reaped); stopping it",
                        running.worker_id, job.id)
            running.lost = True
            if not running.term_sent:
                running.proc.send_signal(signal.SIGTERM)
                running.term_sent = True
            running.kill_at = time.monotonic() + self.options.kill_grace_seconds


def _slurm_job_id() -> str | None:
    """``<array job>_<task>`` inside a SLURM array task, the job id in a plain job, else None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None
