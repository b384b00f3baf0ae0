"""GPU-slot workers: one slot per GPU (or N CPU slots), one job subprocess per slot at a time.

Each slot loops: reap expired leases, claim the next job, run it as ``python -m orchestrator.job``
with ``CUDA_VISIBLE_DEVICES`` set to the slot's GPU ("" on CPU slots), heartbeat while it runs,
record the outcome. A slot takes the next job as soon as its job ends (no batch barriers).

SIGTERM/SIGINT to the worker: slots stop claiming, SIGTERM is forwarded to every running job,
each job checkpoints and exits 75, is requeued without an attempt penalty; the worker exits 0.

Test seam: ``$REGSEG_JOB_COMMAND`` (a JSON argv template with ``{python}``, ``{config}``,
``{out}``, ``{job_id}``, ``{attempt}``) replaces the training command, so tests can run many
quick real subprocesses. It is not meant for production use.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import queue
from orchestrator.job import EX_TEMPFAIL, WORKER_PID_ENV
from orchestrator.paths import state_dir
from orchestrator.store import Store

log = logging.getLogger("orchestrator.worker")
JOB_COMMAND_ENV = "REGSEG_JOB_COMMAND"


@dataclass(frozen=True)
class Slot:
    name: str
    cuda_visible_devices: str  # "" = CPU only


@dataclass(frozen=True)
class WorkerOptions:
    lease_seconds: float = 60.0
    max_jobs: int | None = None
    exit_when_empty: bool = False
    poll_seconds: float = 2.0
    kill_grace_seconds: float = 30.0  # after a lost lease / cancel: SIGTERM, then SIGKILL
    tracking: bool = True
    tracking_uri: str | None = None
    state_dir: Path | None = None
    job_command: tuple[str, ...] | None = None  # test seam, see the module docstring


def _visible_gpus() -> list[str]:
    """GPU ids this host offers: $CUDA_VISIBLE_DEVICES when set, else nvidia-smi's list."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def slot_thread_env(slot: Slot, slots: list[Slot], environ: Mapping[str, str], *,
                    cpu_count: int | None = None) -> dict[str, str]:
    """Thread settings for a job on ``slot``: CPU slots share the cores, so each job gets an
    intra-op pool of cores/slots threads (oversubscribed CPUs slow every job several-fold). An
    explicit OMP_NUM_THREADS in the worker's environment wins; GPU slots get nothing."""
    if slot.cuda_visible_devices or "OMP_NUM_THREADS" in environ:
        return {}
    cpu_slots = sum(1 for s in slots if not s.cuda_visible_devices)
    threads = str(max(1, (cpu_count or os.cpu_count() or 1) // max(1, cpu_slots)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def detect_slots(gpus: str = "auto", *, cpu_slots: int = 1) -> list[Slot]:
    """``auto``: one slot per visible GPU, else ``cpu_slots`` CPU slots; ``0,1``: those GPUs;
    ``none``: CPU slots only."""
    from orchestrator.errors import QueueError

    if cpu_slots < 1:
        raise QueueError(f"--cpu-slots: expected >= 1, got {cpu_slots}")
    if gpus == "auto":
        ids = _visible_gpus()
    elif gpus in ("none", "cpu", ""):
        ids = []
    else:
        ids = [g.strip() for g in gpus.split(",") if g.strip()]
        if not all(g.isdigit() for g in ids):
            raise QueueError(f"--gpus: expected auto, none or a list like 0,1, got {gpus!r}")
    if ids:
        return [Slot(f"gpu{g}", g) for g in ids]
    return [Slot(f"cpu{i}", "") for i in range(cpu_slots)]


def job_command_from_env() -> tuple[str, ...] | None:
    raw = os.environ.get(JOB_COMMAND_ENV)
    if not raw:
        return None
    argv = json.loads(raw)
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not argv:
        from orchestrator.errors import QueueError

        raise QueueError(f"${JOB_COMMAND_ENV}: expected a JSON list of strings, got {raw!r}")
    return tuple(argv)


def _make_tracker(options: WorkerOptions) -> Any:
    if not options.tracking:
        return None
    try:
        from orchestrator.tracking import Tracker
    except ImportError as exc:
        log.warning("tracking disabled: orchestrator.tracking is not importable (%s)", exc)
        return None
    return Tracker(options.tracking_uri)


@dataclass
class _Running:
    proc: subprocess.Popen
    job: queue.ClaimedJob
    worker_id: str
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
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.stop = threading.Event()
        self.state_dir = options.state_dir or state_dir()
        self.tracker = _make_tracker(options)
        self.job_command = options.job_command or job_command_from_env()
        self.finished: list[tuple[int, str]] = []  # (job id, outcome), for callers and tests
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
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
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

    def _maybe_reap(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next_reap:
                return
            self._next_reap = now + max(0.5, self.options.lease_seconds / 2)
        for job_id, state in queue.reap(self.store):
            log.warning("worker %s: job %d lost its lease -> %s", self.id, job_id, state)

    def _slot_main(self, slot: Slot) -> None:
        worker_id = f"{self.id}/{slot.name}"
        while not self.stop.is_set():
            if not self._take_budget():
                return
            try:
                self._maybe_reap()
                job = queue.claim(self.store, worker_id, lease_seconds=self.options.lease_seconds)
            except Exception as exc:  # database hiccup: keep the slot alive, try again
                self._return_budget()
                log.error("worker %s: claim failed: %s", worker_id, exc)
                self.stop.wait(self.options.poll_seconds)
                continue
            if job is None:
                self._return_budget()
                if self.options.exit_when_empty and not self._pending():
                    return
                self.stop.wait(self.options.poll_seconds)
                continue
            try:
                self._run_job(slot, job, worker_id)
            except Exception:  # e.g. the database is gone: the lease runs out, the job is reaped
                log.exception("worker %s: job %d: could not run or record it", worker_id, job.id)
                self.stop.wait(self.options.poll_seconds)

    def _pending(self) -> bool:
        try:
            return queue.has_pending(self.store)
        except Exception as exc:  # unknown: assume there is work, poll again
            log.error("worker %s: queue check failed: %s", self.id, exc)
            return True

    # ------------------------------------------------------------------ one job
    def _run_job(self, slot: Slot, job: queue.ClaimedJob, worker_id: str) -> None:
        job_dir = self.state_dir / "jobs" / str(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        config_path = job_dir / "config.json"
        config_path.write_text(json.dumps(job.config, indent=2, sort_keys=True) + "\n")
        if not queue.record(self.store, job.id, worker_id, job_dir=str(job_dir)):
            return  # cancelled (or reaped) since the claim: never launch it
        run_id = self._start_tracking(job, worker_id)
        if run_id is False:
            return
        if self.stop.is_set():  # stopped between claim and launch: hand the job straight back
            queue.requeue_interrupted(self.store, job.id, worker_id, "worker stopped before launch")
            return
        argv = self._argv(job, config_path, job_dir, run_id)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": slot.cuda_visible_devices,
               WORKER_PID_ENV: str(os.getpid()), "REGSEG_JOB_ID": str(job.id),
               **slot_thread_env(slot, self.slots, os.environ)}
        cwd = job.project_dir if job.project_dir and Path(job.project_dir).is_dir() else None
        log.info("worker %s: job %d attempt %d (%s %s) started", worker_id, job.id, job.attempt,
                 job.spec_name, job.label)
        with open(job_dir / "job.log", "ab") as out:
            out.write(f"== attempt {job.attempt} on {worker_id} ({slot.name}, "
                      f"CUDA_VISIBLE_DEVICES={slot.cuda_visible_devices!r})\n".encode())
            out.flush()
            try:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                        cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                state = queue.fail(self.store, job.id, worker_id, f"cannot start the job: {exc}")
                log.error("worker %s: job %d: cannot start (%s) -> %s", worker_id, job.id, exc, state)
                return
            running = _Running(proc=proc, job=job, worker_id=worker_id)
            rc = self._supervise(running)
        self._record_with_retries(running, rc, job_dir, run_id)

    def _record_with_retries(self, running: _Running, rc: int, job_dir: Path,
                             run_id: str | None) -> None:
        for delay in (1, 2, 4, 8, 0):  # the job is done; try hard to record how it ended
            try:
                self._record_outcome(running, rc, job_dir, run_id)
                return
            except Exception as exc:
                if not delay:
                    raise
                log.error("worker %s: recording job %d failed (%s); retrying in %ss",
                          running.worker_id, running.job.id, exc, delay)
                time.sleep(delay)

    def _argv(self, job: queue.ClaimedJob, config: Path, job_dir: Path, run_id: str | None) -> list:
        if self.job_command:
            values = {"python": sys.executable, "config": str(config), "out": str(job_dir),
                      "job_id": str(job.id), "attempt": str(job.attempt)}
            return [part.format(**values) for part in self.job_command]
        argv = [sys.executable, "-m", "orchestrator.job", "--config", str(config),
                "--out", str(job_dir)]
        if run_id:
            argv += ["--run-id", run_id]
            if self.tracker is not None and getattr(self.tracker, "tracking_uri", None):
                argv += ["--tracking-uri", str(self.tracker.tracking_uri)]
        return argv

    def _start_tracking(self, job: queue.ClaimedJob, worker_id: str) -> str | None | bool:
        """The job's MLflow run id (None without tracking); False if the attempt was failed."""
        if self.tracker is None:
            return None
        try:
            run_id = self.tracker.ensure_run(job)
        except Exception as exc:  # a failed attempt, retried like any other
            state = queue.fail(self.store, job.id, worker_id, f"tracking: {exc}"[:1000])
            log.error("worker %s: job %d: tracking failed (%s) -> %s", worker_id, job.id, exc, state)
            return False
        queue.record(self.store, job.id, worker_id, mlflow_run_id=run_id)
        return run_id

    def _supervise(self, running: _Running) -> int:
        """Wait for the job, heartbeating; forward a stop; stop the job if its lease is lost."""
        interval = max(0.2, self.options.lease_seconds / 3)
        while True:
            try:
                return running.proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
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

    def _record_outcome(self, running: _Running, rc: int, job_dir: Path, run_id: str | None) -> None:
        job, wid = running.job, running.worker_id
        if running.lost:  # the job is stopped: release a cancelled job's hold (see queue.retry)
            state, _ = self._current_state(job.id), queue.release(self.store, job.id, wid)
            outcome = f"lost ({state})"  # closed unless another attempt will resume the run
            self._finish_tracking(run_id, {"cancelled": "KILLED", "failed": "FAILED"}.get(state), None, job_dir)
        elif rc == 0:
            outcome = queue.succeed(self.store, job.id, wid) or "lost"
            self._finish_tracking(run_id, "FINISHED" if outcome == "succeeded" else None, None,
                                  job_dir)
        elif rc == EX_TEMPFAIL or (running.term_sent and rc == -signal.SIGTERM):
            # 75, or our SIGTERM arrived before the job had installed its handler
            reason = f"interrupted: requeued without penalty (exit {rc})"
            outcome = queue.requeue_interrupted(self.store, job.id, wid, reason) or "lost"
        else:
            reason = failure_reason(rc, job_dir / "job.log")
            outcome = queue.fail(self.store, job.id, wid, reason) or "lost"
            self._finish_tracking(run_id, "FAILED" if outcome == "failed" else None, reason, job_dir)
        log.info("worker %s: job %d exited with %s -> %s", wid, job.id, rc, outcome)
        with self._lock:
            self.finished.append((job.id, outcome))

    def _current_state(self, job_id: int) -> str | None:
        return queue.job_states(self.store, [job_id]).get(job_id)

    def _finish_tracking(self, run_id: str | None, status: str | None, error: str | None,
                         job_dir: Path) -> None:
        if not run_id or status is None or self.tracker is None:
            return
        try:
            self.tracker.finish_run(run_id, status, error, out_dir=job_dir)
        except Exception as exc:  # the queue state is what matters; the run can be fixed later
            log.error("worker %s: closing MLflow run %s failed: %s", self.id, run_id, exc)


def failure_reason(rc: int, log_path: Path) -> str:
    """``killed by SIGKILL`` / ``exit status 1: <last error line of job.log>``."""
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    reason = f"exit status {rc}"
    try:
        with open(log_path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return reason
    lines = [ln for ln in lines if ln]
    tagged = [ln for ln in lines if ln.startswith("orchestrator.job: failed:")]
    last = (tagged or lines or [""])[-1].removeprefix("orchestrator.job: failed: ")
    return f"{reason}: {last[:500]}" if last else reason
