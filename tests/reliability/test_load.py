"""Load at CI size on SQLite and PostgreSQL: real ``regseg worker`` processes drain a queue of
quick jobs; every job succeeds exactly once (one claim, one execution, no failed or lost attempt)
and no worker loses a lease while it is alive. benchmarks/bench_load.py runs the full size
(8 workers x 2,000 jobs) and reports the figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import quantile, run_workers, submit, verify  # noqa: E402

pytestmark = pytest.mark.reliability

WORKERS, JOBS_PER_WORKER = 4, 100


def test_workers_drain_a_queue_each_job_exactly_once(db_url: str, tmp_path: Path):
    n_jobs = WORKERS * JOBS_PER_WORKER
    submit(db_url, tmp_path / "project", n_jobs)
    ran = run_workers(db_url, tmp_path, WORKERS, lease=30, timeout=400)
    assert ran["exit_codes"] == [0] * WORKERS, [log.read_text()[-2000:] for log in ran["logs"]]
    got = verify(db_url, tmp_path, n_jobs, ran["logs"])
    assert got["problems"] == [], got["problems"]
    assert (got["succeeded"], got["executions"], got["duplicates"]) == (n_jobs, n_jobs, 0)
    assert got["lost_attempts"] == 0
    assert got["jobs_per_worker"][0] > 0, "a worker ran no job: the load was not shared"
    assert len(got["turnaround_s"]) == n_jobs - WORKERS  # every slot's consecutive pairs
    gaps = got["turnaround_s"]
    print(f"\n{db_url.split(':')[0]}: {n_jobs} jobs in {ran['wall_s']:.1f} s, slot turnaround "
          f"p50 {quantile(gaps, 0.5):.3f} s, p99 {quantile(gaps, 0.99):.3f} s")


def test_the_checks_catch_a_job_that_ran_twice_or_not_at_all(db_url: str, tmp_path: Path):
    """The verifier itself: a drained queue with a forged duplicate and a missing execution in
    the ledger is reported, as is a job left queued."""
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    submit(db_url, tmp_path / "project", 3)
    store = open_store(db_url)
    for _ in range(2):
        job = queue.claim(store, "w", lease_seconds=30)
        assert queue.succeed(store, job.id, "w") == "succeeded"
    (tmp_path / "ledger.txt").write_text("1 1 w\n1 1 w\n")
    problems = verify(db_url, tmp_path, 3)["problems"]
    assert any(p.startswith("1 not succeeded: [3]") for p in problems), problems
    assert any(p.startswith("3 not run exactly once: [1, 2, 3]") for p in problems), problems
