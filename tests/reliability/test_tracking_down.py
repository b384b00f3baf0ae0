"""The tracking server down mid-sweep, under the kill -9 storm, on a PostgreSQL queue (the
storm of test_storm.py runs on SQLite): the workers log to a real
``mlflow server`` on 127.0.0.1, which is stopped a few seconds into the storm and started again
(same port, same store) ``OUTAGE_S`` later while workers and jobs keep being killed. At the end
every job succeeded exactly once and every MLflow run is FINISHED with each epoch once, holding
an uninterrupted run's values; the final weights equal that run's bit for bit.
The 60-second outage over a 30-kill storm: benchmarks/soak_storm.py --tracking-down 60."""

from __future__ import annotations

from pathlib import Path

import pytest
from outage import Outage, tracking_server
from storm import STORM_EPOCHS, Storm, storm_env, submit_sweep, sweep_done, verify

# the timeout covers the session's reference runs too when this module runs alone
pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.timeout(900)]

KILLS = 6
OUTAGE_START_S, OUTAGE_S = 6.0, 25.0


def test_tracking_outage_under_the_storm_loses_nothing(pg_url: str, storm_reference: dict,
                                                        synthetic_dataset: Path, tmp_path: Path):
    db_url = pg_url
    env = storm_env(tmp_path, synthetic_dataset)
    rows = submit_sweep(db_url, tmp_path / "project", synthetic_dataset, epochs=STORM_EPOCHS,
                        budget=KILLS + 1)
    server = tracking_server(tmp_path).start()
    outage = Outage(server, start=OUTAGE_START_S, seconds=OUTAGE_S)
    storm = Storm(db_url, tmp_path, env, seed=23, tracking_uri=server.url, ticks=[outage.tick])
    sweep = sweep_done(db_url, len(rows))
    try:
        storm.run(kills=KILLS, done=lambda: outage.over and sweep(), timeout=420)
        figures = verify(db_url, server.url, storm_reference, epochs=STORM_EPOCHS)
    finally:
        storm.stop()
        server.stop()
    assert outage.over and outage.stopped_at is not None, outage.events
    assert len(storm.kills) >= KILLS, storm.kills
    print(f"tracking outage under the storm: {outage.events}; {len(storm.kills)} kills "
          f"{storm.kills}; {figures} {outage.figures()}")
