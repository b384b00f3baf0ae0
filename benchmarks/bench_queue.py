"""Queue throughput: claims per second with 1, 4 and 8 worker processes on SQLite and
PostgreSQL, and the time to expand and submit a 10,000-run spec.

    python benchmarks/bench_queue.py [--jobs 2000] [--workers 1 4 8] [--pg-url URL] [--json]

PostgreSQL is measured when --pg-url or $REGSEG_TEST_PG_URL is given (tools/with-postgres sets
it); a scratch database is created and dropped. Each measured "claim" is a full job cycle as a
worker does it: claim (atomic UPDATE) then succeed (compare-and-set UPDATE), each its own
transaction. Worker processes are real processes started together behind a barrier.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _spec(project: Path, name: str, axes: dict[str, list]) -> Path:
    (project / "experiments").mkdir(parents=True, exist_ok=True)
    lines = [f"name: {name}", "group: bench", "grid:"]
    lines += [f"  {axis}: [{', '.join(map(str, values))}]" for axis, values in axes.items()]
    path = project / "experiments" / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _fill(url: str, project: Path, n: int, name: str) -> None:
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import load_and_expand

    lrs = [f"{0.0001 * (i + 1):.6f}" for i in range(n)]
    epochs = [int(uuid.uuid4().int % 10**6) + 1]  # a fresh run identity per measurement
    spec = _spec(project, name, {"lr": lrs, "epochs": epochs})
    (res,) = queue.submit(open_store(url), load_and_expand([spec], project_dir=project))
    assert res.n_new == n, res


def _drain(url: str, barrier, out) -> None:  # noqa: ANN001 - multiprocessing objects
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    store = open_store(url)
    wid = f"bench-{os.getpid()}"
    barrier.wait()
    done = 0
    while (job := queue.claim(store, wid, lease_seconds=60)) is not None:
        queue.succeed(store, job.id, wid)
        done += 1
    out.put((done, time.perf_counter()))


def claims_per_second(url: str, project: Path, n_jobs: int, n_workers: int) -> float:
    _fill(url, project, n_jobs, f"claims{n_workers}_{uuid.uuid4().hex[:6]}")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n_workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_drain, args=(url, barrier, out)) for _ in range(n_workers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    assert sum(d for d, _ in results) == n_jobs, results
    return n_jobs / (max(t for _, t in results) - start)


def expand_and_submit(url: str, project: Path) -> tuple[float, float, int]:
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    lrs = [f"{0.0001 * (i + 1):.6f}" for i in range(100)]
    path = _spec(project, f"big_{uuid.uuid4().hex[:6]}", {"lr": lrs, "batch_size": list(range(1,
                                                                                              101))})
    store = open_store(url)
    t0 = time.perf_counter()
    spec = load_spec(path, project_dir=project)
    runs = expand(spec)
    t1 = time.perf_counter()
    (res,) = queue.submit(store, [(spec, runs)])
    t2 = time.perf_counter()
    assert res.n_new == len(runs) == 10_000
    return t1 - t0, t2 - t1, len(runs)


def _pg_database(admin_url: str):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"regseg_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        from orchestrator.queue.store import close_all

        close_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return url, drop


def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    backends = [("sqlite", None)]
    pg = args.pg_url or os.environ.get("REGSEG_TEST_PG_URL")
    if pg:
        backends.append(("postgresql", pg))
    for backend, admin in backends:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            url, drop = (f"sqlite:///{project / 'queue.db'}", lambda: None) if admin is None \
                else _pg_database(admin)
            try:
                from orchestrator.queue.store import open_store

                open_store(url)  # migrate once, outside the timings
                for n in args.workers:
                    rate = claims_per_second(url, project, args.jobs, n)
                    rows.append({"backend": backend, "measure": f"claims/s, {n} worker(s)",
                                 "value": round(rate, 1)})
                t_expand, t_submit, n = expand_and_submit(url, project)
                rows.append({"backend": backend, "measure": f"expand {n} runs (s)",
                             "value": round(t_expand, 2)})
                rows.append({"backend": backend, "measure": f"submit {n} runs (s)",
                             "value": round(t_submit, 2)})
            finally:
                drop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs drained per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    print(tabulate([list(r.values()) for r in rows], headers=list(rows[0])))


if __name__ == "__main__":
    main()
