"""Queue throughput: claims per second with 1, 4 and 8 worker processes on SQLite and
PostgreSQL (the claim path before and after the one-statement claim, in the same run), claim
latency, and a 50,000-run spec expanded, deduplicated against a 50,000-run queue and submitted.

    python benchmarks/bench_queue.py [--jobs 2000] [--workers 1 4 8] [--paths legacy new]
                                     [--submit-runs 50000] [--pg-url URL] [--json]

PostgreSQL is measured when --pg-url or $REGSEG_TEST_PG_URL is given (tools/with-postgres sets
it); scratch databases are created and dropped. Each measured "claim" is a full job cycle as a
worker does it: claim then succeed, each its own transaction. Worker processes are real
processes started together behind a barrier. ``legacy`` is the claim path before it became one
statement (benchmarks/_queue_legacy.py: ORM sessions, pre-ping, no ix_jobs_queued), measured on
its own scratch database next to ``new`` so the ratio is taken on the same machine load.

Submit: a queue already holding spec A's 50,000 runs (the time to queue them into the empty
queue is reported too) gets spec B, 50,000 runs of which half are A's: expand B, deduplicate it
against the queue (a dry run: lookups only), then submit it (lookups and inserts).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _queue_legacy


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


def _drain(url: str, path: str, barrier, out) -> None:  # noqa: ANN001 - multiprocessing objects
    from orchestrator import queue
    from orchestrator.queue.store import open_store

    if path == "legacy":
        import _queue_legacy as legacy

        store = legacy.legacy_store(url)
        claim = lambda wid: legacy.claim(store, wid, lease_seconds=60)  # noqa: E731
        succeed = lambda job_id, wid: legacy.succeed(store, job_id, wid)  # noqa: E731
    else:
        store = open_store(url)
        claim = lambda wid: getattr(queue.claim(store, wid, lease_seconds=60), "id", None)  # noqa: E731
        succeed = lambda job_id, wid: queue.succeed(store, job_id, wid)  # noqa: E731
    wid = f"bench-{os.getpid()}"
    barrier.wait()
    latencies = []
    while True:
        t0 = time.perf_counter()
        job_id = claim(wid)
        latencies.append(time.perf_counter() - t0)
        if job_id is None:
            break
        assert succeed(job_id, wid) == "succeeded"
    out.put((len(latencies) - 1, time.perf_counter(), latencies[:-1]))


def claims_per_second(url: str, project: Path, n_jobs: int, n_workers: int,
                      path: str = "new") -> dict:
    """Drain ``n_jobs`` fresh jobs with ``n_workers`` processes: claims/s and claim latency."""
    _fill(url, project, n_jobs, f"claims{n_workers}_{uuid.uuid4().hex[:6]}")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n_workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_drain, args=(url, path, barrier, out)) for _ in range(n_workers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get(timeout=1200) for _ in procs]
    for p in procs:
        p.join()
    assert sum(d for d, _, _ in results) == n_jobs, [d for d, _, _ in results]
    latencies = sorted(x for _, _, lat in results for x in lat)
    return {"rate": n_jobs / (max(t for _, t, _ in results) - start),
            "p50_ms": 1000 * _quantile(latencies, 0.50),
            "p99_ms": 1000 * _quantile(latencies, 0.99)}


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _grid_spec(project: Path, name: str, n_runs: int, lr_offset: int) -> Path:
    """A spec of ``n_runs`` runs: lr (n_runs / 200 values from ``lr_offset``) x batch_size."""
    n_lr = n_runs // 200
    lrs = [f"{0.00001 * (i + 1 + lr_offset):.6f}" for i in range(n_lr)]
    return _spec(project, name, {"lr": lrs, "batch_size": list(range(1, 201))})


def expand_dedup_submit(url: str, project: Path, n_runs: int) -> list[tuple[str, float]]:
    """(measure, seconds): spec A into the empty queue, then spec B (half A's runs) expanded,
    deduplicated against the queue and submitted."""
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import expand, load_spec

    store = open_store(url)
    tag = uuid.uuid4().hex[:6]
    a = load_spec(_grid_spec(project, f"bigA_{tag}", n_runs, 0), project_dir=project)
    t0 = time.perf_counter()
    runs_a = expand(a)
    t1 = time.perf_counter()
    (res,) = queue.submit(store, [(a, runs_a)])
    t2 = time.perf_counter()
    assert res.n_new == len(runs_a) == n_runs, res
    b_path = _grid_spec(project, f"bigB_{tag}", n_runs, n_runs // 400)  # half of A's lr values
    t3 = time.perf_counter()
    b = load_spec(b_path, project_dir=project)
    runs_b = expand(b)
    t4 = time.perf_counter()
    (dry,) = queue.submit(store, [(b, runs_b)], dry_run=True)
    t5 = time.perf_counter()
    (res,) = queue.submit(store, [(b, runs_b)])
    t6 = time.perf_counter()
    assert dry.n_known == res.n_known == n_runs // 2 and res.n_new == n_runs - n_runs // 2, res
    n = f"{n_runs:,}"
    return [(f"expand spec A, {n} runs (s)", t1 - t0),
            ("submit A into the empty queue (s)", t2 - t1),
            (f"expand spec B, {n} runs (s)", t4 - t3),
            (f"dedup B against the {n}-run queue (dry run, s)", t5 - t4),
            (f"submit B: dedup + insert {n_runs - n_runs // 2:,} new (s)", t6 - t5)]


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


def _scratch(backend: str, admin: str | None, project: Path, path: str):
    """(url, drop) of a scratch queue database for one claim path, schema migrated."""
    from orchestrator.queue.store import open_store

    if admin is None:
        url, drop = f"sqlite:///{project / f'queue-{path}.db'}", lambda: None
    else:
        url, drop = _pg_database(admin)
    open_store(url)  # migrate once, outside the timings
    if path == "legacy":
        import _queue_legacy as legacy

        store = legacy.legacy_store(url)
        legacy.drop_queued_index(store)
        store.dispose()
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
            dbs = {path: _scratch(backend, admin, project, path) for path in args.paths}
            try:
                for n in args.workers:
                    for path, (url, _) in dbs.items():  # old and new back to back, per size
                        got = claims_per_second(url, project, args.jobs, n, path)
                        rows.append({"backend": backend, "path": path, "workers": n,
                                     "measure": "claims/s", "value": round(got["rate"], 1)})
                        for q in ("p50_ms", "p99_ms"):
                            rows.append({"backend": backend, "path": path, "workers": n,
                                         "measure": f"claim latency {q[:3]} (ms)",
                                         "value": round(got[q], 2)})
                if args.submit_runs:
                    url = dbs[args.paths[-1]][0]
                    for measure, seconds in expand_dedup_submit(url, project, args.submit_runs):
                        rows.append({"backend": backend, "path": args.paths[-1], "workers": "",
                                     "measure": measure, "value": round(seconds, 2)})
            finally:
                from orchestrator.queue.store import close_all

                close_all()
                for _, drop in dbs.values():
                    drop()
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """new / legacy claims/s per backend and worker count (both measured in this run)."""
    rate = {(r["backend"], r["path"], r["workers"]): r["value"] for r in rows
            if r["measure"] == "claims/s"}
    return [{"backend": b, "path": "new/legacy", "workers": n, "measure": "claims/s ratio",
             "value": round(v / rate[(b, "legacy", n)], 2)}
            for (b, p, n), v in rate.items() if p == "new" and (b, "legacy", n) in rate]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs drained per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--paths", nargs="+", choices=["legacy", "new"], default=["legacy", "new"],
                        help="claim paths to measure (legacy: before the one-statement claim)")
    parser.add_argument("--submit-runs", type=int, default=50_000,
                        help="runs per spec in the expand/dedup/submit measurement (0: skip)")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args)
    rows += ratios(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    print(tabulate([list(r.values()) for r in rows], headers=list(rows[0])))


if __name__ == "__main__":
    main()
