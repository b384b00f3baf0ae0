"""Kill -9 storm over a real training sweep: workers and jobs die at random every few seconds and
are restarted; at the end every job succeeded exactly once, each MLflow run holds each epoch once
with an uninterrupted run's values, and the final weights equal that run's bit for bit.

Here on a SQLite queue; the same storm runs on a PostgreSQL queue in test_tracking_down.py (with
the tracking server down as well), and both databases take the 30-kill soak in
benchmarks/soak_storm.py (figures in issue #19's note), which keeps .ci/run within its bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from storm import STORM_EPOCHS, Storm, storm_env, submit_sweep, sweep_done, verify

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(420)]

KILLS = 10


def test_kill_storm_loses_and_repeats_nothing(storm_reference: dict, synthetic_dataset: Path,
                                              tmp_path: Path):
    db_url = f"sqlite:///{tmp_path / 'queue.db'}"
    env = storm_env(tmp_path, synthetic_dataset)
    rows = submit_sweep(db_url, tmp_path / "project", synthetic_dataset, epochs=STORM_EPOCHS,
                        budget=KILLS + 1)
    assert sorted(r["run_hash"] for r in rows) == sorted(storm_reference)
    storm = Storm(db_url, tmp_path, env, seed=19)
    try:
        storm.run(kills=KILLS, done=sweep_done(db_url, len(rows)), timeout=360)
    finally:
        storm.stop()
    assert len(storm.kills) >= KILLS, storm.kills
    figures = verify(db_url, f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}", storm_reference,
                     epochs=STORM_EPOCHS)
    # every injected death of a running job shows up as one failed or lost attempt
    assert figures["failed_attempts"] + figures["lost_attempts"] >= sum(
        1 for _, kind, _ in storm.kills if kind == "job")
    print(f"storm ({db_url.split(':')[0]}): {len(storm.kills)} kills {storm.kills}; {figures}")
