"""A fault storm over a real training sweep (shared by tests/reliability/test_storm.py and the
longer soak in benchmarks/soak_storm.py).

A smoke sweep (experiments/smoke.yaml's settings: 2 bodies x 2 decoders, one seed, 64x128) runs
on real `regseg worker` processes with the embedded MLflow store while a seeded random schedule
sends SIGKILL to a worker or to one of the training jobs every few seconds and restarts the
killed workers. :func:`verify` then checks what "nothing is lost" means: every job succeeded
exactly once, each MLflow run holds every epoch exactly once with the values of an
uninterrupted run, and each job's final weights equal that run's bit for bit.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tests.orchestrator._orch_helpers import smoke_spec

STORM_EPOCHS = 2  # epochs of the CI storm's runs (and of their uninterrupted references)


def storm_spec(data: Path, epochs: int) -> str:
    """The storm's sweep: the smoke setting's 2 bodies x 2 decoders, one seed each."""
    return smoke_spec("storm", "storm", dataset_dir=str(data), epochs=epochs,
                      grid={"body": ["exp48", "exp30"], "decoder": ["decoder14", "decoder26"]})
# metrics that must repeat exactly when an epoch is trained again from its checkpoint
EXACT_METRICS = ("loss", "lr", "mIoU", "mIoU_reduced", "pixel_accuracy")


def storm_env(root: Path, data: Path) -> dict[str, str]:
    """One thread per job: the same arithmetic in every process (bit-for-bit comparisons)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update({"REGSEG_HOME": str(root / "state"), "REGSEG_DATA_ROOTS": str(data),
                "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    return env


def submit_sweep(db_url: str, project: Path, data: Path, *, epochs: int,
                 budget: int) -> list[dict]:
    """Queue the sweep; ``budget`` bounds both the job's own failures and its lost attempts (a
    storm kills on purpose: the default budgets would turn injected faults into failed jobs)."""
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    (project / "experiments").mkdir(parents=True, exist_ok=True)
    path = project / "experiments" / "storm.yaml"
    path.write_text(storm_spec(data, epochs))
    with data_roots(data):
        spec = load_spec(path, project_dir=project)
        runs = expand(spec)
    queue.submit(open_store(db_url), [(spec, runs)], max_attempts=budget,
                 max_lost_attempts=budget)
    return queue.jobs(open_store(db_url))


@contextlib.contextmanager
def data_roots(data: Path):
    """$REGSEG_DATA_ROOTS names ``data`` meanwhile: the data lives outside the project."""
    previous = os.environ.get("REGSEG_DATA_ROOTS")
    os.environ["REGSEG_DATA_ROOTS"] = str(data)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["REGSEG_DATA_ROOTS"]
        else:
            os.environ["REGSEG_DATA_ROOTS"] = previous


def train_reference(configs: dict[str, dict], root: Path, env: dict) -> dict[str, Path]:
    """Uninterrupted runs (`python -m regseg.train`, no tracking), two at a time; returns
    run_hash -> output directory."""
    outs, procs = {}, []
    for run_hash, config in configs.items():
        out = root / run_hash
        out.mkdir(parents=True, exist_ok=True)
        (out / "input.json").write_text(json.dumps(config))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "regseg.train", "--config", str(out / "input.json"),
             "--out", str(out), "--no-progress"], env=env, stdout=open(out / "log", "wb"),
            stderr=subprocess.STDOUT))
        outs[run_hash] = out
        if len(procs) == 2:
            _wait_all(procs)
            procs = []
    _wait_all(procs)
    return outs


def _wait_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        assert p.wait(timeout=600) == 0, f"reference run failed: {p.args}"


def children(pid: int) -> list[int]:
    """Live child pids of ``pid`` (from /proc), zombies left out."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def waiting_standby(pid: int) -> bool:
    """A pre-started job process still waiting for its hand-off (orchestrator/workers/standby.py):
    its stdin is still the worker's pipe; an adopted one has /dev/null there."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stdin = os.readlink(f"/proc/{pid}/fd/0")
    except OSError:
        return False
    return b"orchestrator.workers.standby" in cmdline and stdin.startswith("pipe:")


def running_jobs(worker_pid: int) -> list[int]:
    """The worker's job processes that run a job: its children less any waiting standby."""
    return [pid for pid in children(worker_pid) if not waiting_standby(pid)]


@dataclass
class Storm:
    """Keeps ``n_workers`` workers alive and kills one worker or job every few seconds."""

    db_url: str
    root: Path
    env: dict
    n_workers: int = 2
    lease_seconds: float = 4.0
    interval: tuple[float, float] = (1.0, 2.5)
    seed: int = 0
    tracking_uri: str | None = None  # None: each worker's embedded store under $REGSEG_HOME
    ticks: list = field(default_factory=list)  # called with the seconds since start, each loop
    workers: list = field(default_factory=list)
    kills: list = field(default_factory=list)  # (seconds since start, "worker" | "job", pid)
    started: int = 0

    def start_worker(self) -> subprocess.Popen:
        log = open(self.root / f"worker{self.started}.log", "wb")
        self.started += 1
        argv = [sys.executable, "-m", "regseg", "worker", "--db", self.db_url, "--gpus", "none",
                "--lease-seconds", str(self.lease_seconds), "--poll-seconds", "0.2",
                "--no-sample-images"]
        if self.tracking_uri:
            argv += ["--tracking-uri", self.tracking_uri]
        return subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.root)

    def run(self, *, kills: int, done, timeout: float) -> None:
        """Kill until ``kills`` faults are injected, then let the sweep finish (``done()``)."""
        rng = random.Random(self.seed)
        t0 = time.monotonic()
        self.workers = [self.start_worker() for _ in range(self.n_workers)]
        next_kill = t0 + rng.uniform(*self.interval)
        while time.monotonic() - t0 < timeout:
            for tick in self.ticks:
                tick(time.monotonic() - t0)
            self._restart_dead()
            if done():
                return
            if len(self.kills) < kills and time.monotonic() >= next_kill:
                if self._kill_one(rng, time.monotonic() - t0):
                    next_kill = time.monotonic() + rng.uniform(*self.interval)
            time.sleep(0.1)
        raise AssertionError(f"storm: the sweep did not finish in {timeout:.0f} s "
                             f"({len(self.kills)} kills)\n{self.log_tail()}")

    def _kill_one(self, rng: random.Random, at: float) -> bool:
        """SIGKILL a running job (a failed attempt) or the worker holding it (a lost lease);
        nothing while no job runs, so every fault lands on work in progress."""
        busy = [(w, pid) for w in self.workers if w.poll() is None
                for pid in running_jobs(w.pid)]
        if not busy:
            return False
        worker, job_pid = rng.choice(busy)
        pid, kind = (job_pid, "job") if rng.random() < 0.5 else (worker.pid, "worker")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills.append((round(at, 1), kind, pid))
        return True

    def _restart_dead(self) -> None:
        for i, w in enumerate(self.workers):
            if w.poll() is not None:
                w.wait()
                self.workers[i] = self.start_worker()

    def stop(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()

    def log_tail(self) -> str:
        logs = sorted(self.root.glob("worker*.log"))[-4:]
        return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in logs)


def sweep_done(db_url: str, n_jobs: int):
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    def done() -> bool:
        counts = queue.counts(open_store(db_url))
        terminal = sum(counts.get(s, 0) for s in ("succeeded", "failed", "cancelled"))
        return terminal == n_jobs
    return done


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def reference_metrics(out: Path) -> dict[int, dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {int(r["epoch"]): r for r in rows}


def verify(db_url: str, tracking_uri: str, refs: dict[str, Path], *, epochs: int,
           check: bool = True) -> dict:
    """Check that nothing was lost or repeated; returns the figures of the sweep, ``problems``
    (one line each) among them. ``check``: raise AssertionError listing the problems, if any."""
    from mlflow.tracking import MlflowClient

    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.tracking import tags as T

    store = open_store(db_url)
    rows = queue.jobs(store)
    history = queue.attempts_of(store, [r["id"] for r in rows])
    client = MlflowClient(tracking_uri=tracking_uri)
    figures = {"jobs": len(rows), "jobs_succeeded": 0, "attempts": 0, "failed_attempts": 0,
               "lost_attempts": 0, "duplicate_successes": 0, "runs_not_finished": 0,
               "repeated_epochs": 0, "lost_epochs": 0, "metric_mismatches": 0,
               "weights_differ": 0, "runs_restarted": 0}
    problems: list[str] = []
    for row in rows:
        outcomes = [a["outcome"] for a in history[row["id"]]]
        figures["attempts"] += len(outcomes)
        figures["failed_attempts"] += row["attempts"]
        figures["lost_attempts"] += row["lost_attempts"]
        figures["duplicate_successes"] += max(0, outcomes.count("succeeded") - 1)
        if outcomes.count("succeeded") != 1:  # exactly once
            problems.append(f"job {row['id']}: attempts ended {outcomes}")
        if row["state"] != "succeeded":
            problems.append(f"job {row['id']}: {row['state']} ({row['exit_reason']})")
            continue
        figures["jobs_succeeded"] += 1
        problems += _check_run(client, row, refs[row["run_hash"]], epochs, figures, T.RESTARTED)
    figures["problems"] = problems
    assert not (check and problems), "\n".join(problems)
    return figures


def _check_run(client, row: dict, ref: Path, epochs: int, figures: dict,
               restarted_tag: str) -> list[str]:
    """One succeeded job: its MLflow run FINISHED with each epoch once and the reference's
    values, its final weights the reference's; counts into ``figures``, returns problems."""
    problems = []
    run = client.get_run(row["mlflow_run_id"])
    if run.info.status != "FINISHED":
        figures["runs_not_finished"] += 1
        problems.append(f"job {row['id']}: MLflow run {run.info.run_id} is {run.info.status}")
    figures["runs_restarted"] += restarted_tag in run.data.tags
    expected = reference_metrics(ref)
    for key in EXACT_METRICS:
        history = client.get_metric_history(run.info.run_id, key)
        steps = [m.step for m in history]
        figures["repeated_epochs"] += len(steps) - len(set(steps))
        figures["lost_epochs"] += len(set(range(epochs)) - set(steps))
        if sorted(steps) != list(range(epochs)):
            problems.append(f"job {row['id']}: {key} logged at steps {sorted(steps)}")
        wrong = [(m.step, m.value) for m in history
                 if m.value != expected.get(m.step, {}).get(key)]
        figures["metric_mismatches"] += len(wrong)
        if wrong:
            problems.append(f"job {row['id']}: {key} differs from the reference at {wrong}")
    mine = model_state(Path(row["job_dir"]) / "checkpoints" / "last.pt")
    theirs = model_state(ref / "checkpoints" / "last.pt")
    unequal = [k for k in theirs if k not in mine or not torch.equal(mine[k], theirs[k])]
    if unequal:
        figures["weights_differ"] += 1
        problems.append(f"job {row['id']}: weights differ from the uninterrupted run "
                        f"({unequal[:3]})")
    return problems
