"""Soak: the reliability suite's kill -9 storm at full size (>= 30 kills) on SQLite and, with
--pg-url or $REGSEG_TEST_PG_URL (tools/with-postgres sets it), on PostgreSQL.

    python benchmarks/soak_storm.py [--kills 30] [--epochs 3] [--seed 19] [--pg-url URL]
        [--databases sqlite,postgresql] [--tracking-down SECONDS]

``--tracking-down 60``: the workers log to a real ``mlflow server`` on 127.0.0.1, which is
stopped 10 s into the storm for that long and started again (same port and store) while the
kills go on (tests/reliability/test_tracking_down.py at full size).

Prints one JSON object per database: kills by kind, attempts, failed (the job's own) and lost
(lease expired) attempts, duplicate successes, runs not FINISHED, repeated and lost epochs,
metric and weight mismatches against uninterrupted runs (all must be 0), the outage, the wall
time and ``problems`` (one line per failed check; empty when nothing was lost). Exits 1 when any
database had a problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "reliability")]

from outage import Outage, tracking_server  # noqa: E402
from storm import Storm, storm_env, submit_sweep, sweep_done, train_reference, verify  # noqa: E402

OUTAGE_START_S = 10.0


def _pg_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"soak_{uuid.uuid4().hex[:10]}"
    with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def soak(db_url: str, root: Path, data: Path, refs: dict, args) -> dict:
    env = storm_env(root, data)
    rows = submit_sweep(db_url, root / "project", data, epochs=args.epochs, budget=args.kills + 1)
    server = tracking_server(root).start() if args.tracking_down else None
    outage = Outage(server, start=OUTAGE_START_S, seconds=args.tracking_down) if server else None
    storm = Storm(db_url, root, env, seed=args.seed,
                  tracking_uri=server.url if server else None,
                  ticks=[outage.tick] if outage else [])
    sweep = sweep_done(db_url, len(rows))
    started = time.monotonic()
    try:
        storm.run(kills=args.kills, done=lambda: (outage is None or outage.over) and sweep(),
                  timeout=3600)
        wall = time.monotonic() - started
        tracking_uri = server.url if server else f"sqlite:///{root / 'state' / 'mlflow.db'}"
        figures = verify(db_url, tracking_uri, refs, epochs=args.epochs, check=False)
    finally:
        storm.stop()
        if server:
            server.stop()
    kinds = [kind for _, kind, _ in storm.kills]
    return {"database": db_url.split(":")[0], "kills": len(kinds),
            "job_kills": kinds.count("job"), "worker_kills": kinds.count("worker"),
            **(outage.figures() if outage else {}), "wall_s": round(wall, 1), **figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--pg-url", default=os.environ.get("REGSEG_TEST_PG_URL"))
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="which of sqlite, postgresql (the latter needs --pg-url)")
    parser.add_argument("--tracking-down", type=float, default=0.0, metavar="SECONDS",
                        help="stop the tracking server this long mid-storm (0: embedded store)")
    args = parser.parse_args()
    from storm import data_roots, storm_spec

    from orchestrator.specs import expand, load_spec
    from regseg.data.synthetic import make_synthetic

    wanted = set(args.databases.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_synthetic(root / "data", train=16, val=8, size=(64, 128), seed=0)
        spec = root / "ref" / "experiments" / "storm.yaml"
        spec.parent.mkdir(parents=True)
        spec.write_text(storm_spec(data, args.epochs))
        with data_roots(data):
            runs = expand(load_spec(spec, project_dir=root / "ref"))
        refs = train_reference({r.run_hash: r.config.model_dump(mode="json") for r in runs},
                               root / "ref" / "runs", storm_env(root / "ref", data))
        urls = [f"sqlite:///{root / 'sqlite' / 'queue.db'}"] if "sqlite" in wanted else []
        if args.pg_url and "postgresql" in wanted:
            urls.append(_pg_database(args.pg_url))
        failed = False
        for url in urls:
            where = root / url.split(":")[0].split("+")[0]
            where.mkdir(exist_ok=True)
            result = soak(url, where, data, refs, args)
            failed = failed or bool(result["problems"])
            print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
