"""Soak: the reliability suite's kill -9 storm at full size (>= 30 kills) on SQLite and, with
--pg-url or $REGSEG_TEST_PG_URL (tools/with-postgres sets it), on PostgreSQL.

    python benchmarks/soak_storm.py [--kills 30] [--epochs 3] [--seed 19] [--pg-url URL]

Prints one JSON object per database: kills by kind, attempts, failed (the job's own) and lost
(lease expired) attempts, duplicate successes, repeated and lost epochs (all must be 0) and the
wall time. Every check of tests/reliability/test_storm.py is asserted on the way.
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

from storm import Storm, storm_env, submit_sweep, sweep_done, train_reference, verify  # noqa: E402


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
    storm = Storm(db_url, root, env, seed=args.seed)
    started = time.monotonic()
    try:
        storm.run(kills=args.kills, done=sweep_done(db_url, len(rows)), timeout=3600)
    finally:
        storm.stop()
    figures = verify(db_url, f"sqlite:///{root / 'state' / 'mlflow.db'}", refs, epochs=args.epochs)
    kinds = [kind for _, kind, _ in storm.kills]
    return {"database": db_url.split(":")[0], "kills": len(kinds),
            "job_kills": kinds.count("job"), "worker_kills": kinds.count("worker"),
            "wall_s": round(time.monotonic() - started, 1), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--pg-url", default=os.environ.get("REGSEG_TEST_PG_URL"))
    args = parser.parse_args()
    from storm import data_roots, storm_spec

    from orchestrator.specs import expand, load_spec
    from regseg.data.synthetic import make_synthetic

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
        urls = [f"sqlite:///{root / 'sqlite' / 'queue.db'}"]
        if args.pg_url:
            urls.append(_pg_database(args.pg_url))
        for url in urls:
            where = root / url.split(":")[0].split("+")[0]
            where.mkdir(exist_ok=True)
            print(json.dumps(soak(url, where, data, refs, args)), flush=True)


if __name__ == "__main__":
    main()
