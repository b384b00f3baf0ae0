"""Load: N workers x M quick jobs on SQLite and PostgreSQL; every job must succeed exactly once
and no lease may be lost while its worker is alive (the checks of tests/reliability/load.py).

    python benchmarks/bench_load.py [--workers 8] [--jobs-per-worker 2000]
                                    [--mode worker api] [--lease 30] [--pg-url URL] [--json]

``worker``: real ``regseg worker`` processes (one CPU slot each) running load_job.py
subprocesses through the worker's ``--job-command`` seam; the latency figure is the slot's
turnaround (one attempt's end to the slot's next claim, database clock). ``api``: worker-like
processes on the queue API (claim, heartbeat, succeed), each claim call timed. PostgreSQL is
measured when --pg-url or $REGSEG_TEST_PG_URL is given (tools/with-postgres sets it). Exits 1
when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "reliability")]

from load import quantile, run_api_workers, run_workers, submit, verify  # noqa: E402


def _pg_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"load_{uuid.uuid4().hex[:10]}"
    with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _ms(values: list[float], q: float) -> float | None:
    got = quantile(values, q)
    return None if got is None else round(1000 * got, 2)


def load_run(db_url: str, root: Path, mode: str, args: argparse.Namespace) -> dict:
    n_jobs = args.workers * args.jobs_per_worker
    submit(db_url, root / "project", n_jobs)
    if mode == "worker":
        ran = run_workers(db_url, root, args.workers, lease=args.lease, timeout=args.timeout)
        got = verify(db_url, root, n_jobs, ran["logs"])
        if ran["exit_codes"] != [0] * args.workers:
            got["problems"].append(f"worker exit codes {ran['exit_codes']}")
        latency = {"turnaround_p50_ms": _ms(got["turnaround_s"], 0.5),
                   "turnaround_p99_ms": _ms(got["turnaround_s"], 0.99)}
    else:
        ran = run_api_workers(db_url, root, args.workers, lease=args.lease, timeout=args.timeout)
        got = verify(db_url, root, n_jobs)
        if ran["lost_in_workers"]:
            got["problems"].append(f"{ran['lost_in_workers']} leases lost in the workers")
        latency = {"claim_p50_ms": _ms(ran["claim_latencies_s"], 0.5),
                   "claim_p99_ms": _ms(ran["claim_latencies_s"], 0.99)}
    return {"mode": mode, "workers": args.workers, "jobs": n_jobs,
            "wall_s": round(ran["wall_s"], 1), "jobs_per_s": round(n_jobs / ran["wall_s"], 1),
            "succeeded": got["succeeded"], "executions": got["executions"],
            "duplicates": got["duplicates"], "lost_attempts": got["lost_attempts"],
            "jobs_per_worker_min_max": got["jobs_per_worker"], **latency,
            "problems": got["problems"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--jobs-per-worker", type=int, default=2000)
    parser.add_argument("--mode", nargs="+", choices=["worker", "api"], default=["worker"])
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per run, seconds")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = ["sqlite"]
    pg = args.pg_url or os.environ.get("REGSEG_TEST_PG_URL")
    if pg:
        backends.append("postgresql")
    results = []
    for mode in args.mode:
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                url = f"sqlite:///{root / 'queue.db'}" if backend == "sqlite" else _pg_database(pg)
                results.append({"backend": backend, **load_run(url, root, mode, args)})
                from orchestrator.queue.store import close_all

                close_all()
            print(json.dumps(results[-1]) if args.json else results[-1], flush=True)
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
