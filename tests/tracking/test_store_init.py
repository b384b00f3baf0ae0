"""Several processes opening one new sqlite MLflow store at once (two workers, two SLURM tasks
on a node) must all succeed: MLflow creates its tables on first use, under our file lock."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path


def _open(uri: str) -> None:
    from orchestrator.tracking.store import make_client

    make_client(uri).search_experiments(max_results=1)


def test_concurrent_first_opens_of_a_new_store_all_succeed(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(uri,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
