"""The load run of the reliability suite (tests/reliability/test_load.py at CI size,
benchmarks/bench_load.py at full size): N worker processes drain a queue of quick jobs, then
every job must have succeeded exactly once with no lease lost.

Two kinds of workers:

- ``worker``: real ``regseg worker`` processes (one CPU slot each) whose jobs are
  ``load_job.py`` subprocesses (the worker's ``--job-command`` seam): the whole claim, launch,
  heartbeat and outcome path. Claim latency cannot be timed from outside a worker, so the figure
  is the slot's turnaround: from one attempt's end to the same slot's next claim, read from the
  ``job_attempts`` timestamps (the database's clock); it covers recording the outcome, the
  reaper and the claim.
- ``api``: worker-like processes calling the queue API (reap now and then, claim, heartbeat,
  append to the ledger, succeed), each claim call timed.

Both write one ledger line per execution of a job, which the checks count.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

LOAD_JOB = Path(__file__).with_name("load_job.py")
LOST_LINES = ("lost its lease", "no longer ours")  # what a worker logs when a lease is lost


def write_spec(project: Path, n_jobs: int, name: str = "load") -> Path:
    """A spec of ``n_jobs`` runs (an lr axis); the runs are never trained."""
    lrs = ", ".join(f"{0.00001 * (i + 1):.6f}" for i in range(n_jobs))
    path = project / "experiments" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"name: {name}\ngroup: load\ngrid:\n  lr: [{lrs}]\n")
    return path


def submit(db_url: str, project: Path, n_jobs: int) -> None:
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import load_and_expand

    (res,) = queue.submit(open_store(db_url),
                          load_and_expand([write_spec(project, n_jobs)], project_dir=project))
    assert res.n_new == n_jobs, res


# ----------------------------------------------------------------------------- real workers
def run_workers(db_url: str, root: Path, n_workers: int, *, lease: float = 30,
                timeout: float = 3600) -> dict:
    """Run ``n_workers`` ``regseg worker --exit-when-empty`` processes until the queue is drained;
    {"wall_s", "logs", "exit_codes"}. Workers still running at ``timeout`` are killed."""
    ledger = root / "ledger.txt"
    command = ["{python}", "-S", "-I", str(LOAD_JOB), str(ledger), "{job_id}", "{attempt}",
               "{worker_id}"]
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_DB", "MLFLOW_TRACKING_URI")}
    env.update({"REGSEG_HOME": str(root / "state"), "PYTHONUNBUFFERED": "1"})
    argv = [sys.executable, "-m", "regseg", "worker", "--db", db_url, "--gpus", "none",
            "--cpu-slots", "1", "--lease-seconds", str(lease), "--poll-seconds", "0.1",
            "--no-tracking", "--exit-when-empty", "--job-command", json.dumps(command)]
    logs = [root / f"worker-{i}.log" for i in range(n_workers)]
    start = time.perf_counter()
    procs = []
    for log in logs:
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(argv, env=env, cwd=root, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - start))))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return {"wall_s": time.perf_counter() - start, "logs": logs, "exit_codes": codes}


# ----------------------------------------------------------------------------- API workers
def _api_worker(db_url: str, ledger: str, lease: float, barrier, out) -> None:  # noqa: ANN001
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    store = open_store(db_url)
    worker_id = f"api:{os.getpid()}"
    latencies: list[float] = []
    lost = 0
    barrier.wait()
    while True:
        if len(latencies) % 50 == 0:
            lost += len(queue.reap(store))
        t0 = time.perf_counter()
        job = queue.claim(store, worker_id, lease_seconds=lease, host="load", slot="api")
        latencies.append(time.perf_counter() - t0)
        if job is None:
            if not queue.has_pending(store):
                break
            time.sleep(0.05)
            continue
        held = queue.heartbeat(store, job.id, worker_id, lease_seconds=lease)
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{job.id} {job.attempt} {worker_id}\n".encode())
        finally:
            os.close(fd)
        if not held or queue.succeed(store, job.id, worker_id) != "succeeded":
            lost += 1
    out.put((latencies, lost))


def run_api_workers(db_url: str, root: Path, n_workers: int, *, lease: float = 30,
                    timeout: float = 3600) -> dict:
    """Drain the queue with ``n_workers`` API processes; {"wall_s", "claim_latencies_s",
    "lost_in_workers"}."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n_workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_api_worker,
                         args=(db_url, str(root / "ledger.txt"), lease, barrier, out))
             for _ in range(n_workers)]
    for proc in procs:
        proc.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get(timeout=timeout) for _ in procs]
    wall = time.perf_counter() - start
    for proc in procs:
        proc.join()
    return {"wall_s": wall, "claim_latencies_s": [x for lat, _ in results for x in lat],
            "lost_in_workers": sum(n for _, n in results)}


# ----------------------------------------------------------------------------- checks
def verify(db_url: str, root: Path, n_jobs: int, logs: list[Path] = ()) -> dict:
    """Figures of the drained queue plus ``problems``: every way in which some job did not
    succeed exactly once, or some lease was lost (empty when all is well)."""
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    store = open_store(db_url)
    rows = queue.jobs(store)
    ids = [r["id"] for r in rows]
    attempts = queue.attempts_of(store, ids)
    ledger = _executions(root / "ledger.txt")
    problems = []
    if len(rows) != n_jobs:
        problems.append(f"{len(rows)} jobs in the queue, expected {n_jobs}")
    not_done = [r["id"] for r in rows if r["state"] != "succeeded"]
    counted = [r["id"] for r in rows if r["attempts"] or r["lost_attempts"]]
    multi = [i for i, a in attempts.items() if len(a) != 1 or a[0]["outcome"] != "succeeded"]
    runs = [i for i in ids if ledger[str(i)] != 1]
    lost_lines = [f"{log.name}: {line.strip()}" for log in logs
                  for line in log.read_text(errors="replace").splitlines()
                  if any(marker in line for marker in LOST_LINES)]
    for what, bad in (("not succeeded", not_done), ("with failed or lost attempts", counted),
                      ("not claimed exactly once", multi), ("not run exactly once", runs),
                      ("worker log lines of lost leases", lost_lines)):
        if bad:
            problems.append(f"{len(bad)} {what}: {bad[:10]}")
    per_worker = Counter(a[0]["worker_id"] for a in attempts.values() if a)
    return {"jobs": len(rows), "succeeded": len(rows) - len(not_done),
            "executions": sum(ledger.values()),
            "duplicates": sum(c - 1 for c in ledger.values() if c > 1),
            "lost_attempts": sum(r["lost_attempts"] for r in rows),
            "jobs_per_worker": (min(per_worker.values(), default=0),
                                max(per_worker.values(), default=0)),
            "turnaround_s": _turnarounds(attempts), "problems": problems}


def _executions(ledger: Path) -> Counter:
    """{job id (text): times it ran}, from the ledger the jobs append to."""
    if not ledger.exists():
        return Counter()
    return Counter(line.split()[0] for line in ledger.read_text().splitlines() if line.strip())


def _turnarounds(attempts: dict[int, list[dict]]) -> list[float]:
    """Per slot (worker id), the gaps from one attempt's end to its next claim (seconds)."""
    by_slot: dict[str, list[dict]] = {}
    for rows in attempts.values():
        for row in rows:
            by_slot.setdefault(row["worker_id"], []).append(row)
    gaps = []
    for rows in by_slot.values():
        rows.sort(key=lambda r: r["started_at"])
        gaps += [(b["started_at"] - a["ended_at"]).total_seconds()
                 for a, b in zip(rows, rows[1:]) if a["ended_at"] is not None]
    return gaps


def quantile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None
