"""The report's adaptive-seeds section reads every stopped arm's run, over all pages."""

from __future__ import annotations

import orchestrator.tracking.tags as T
from reports import mlflow_read
from reports.arms import stopped_arms


def test_stopped_arms_counts_runs_beyond_the_first_page(store_uri, monkeypatch):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store_uri)
    eid = client.create_experiment("regseg/arms")
    for i in range(5):
        client.create_run(eid, tags={T.GROUP: "arms", T.CONFIG_LABEL: f"arm{i % 2}",
                                     T.ARM_STOPPED: "cannot beat the baseline",
                                     T.ARM_SAVED_RUNS: "3"})
    client.create_run(eid, tags={T.GROUP: "arms", T.CONFIG_LABEL: "arm9"})  # not stopped
    monkeypatch.setattr(mlflow_read, "PAGE", 2)  # five runs: three pages
    rows = stopped_arms(client, [eid])
    assert [(r["arm"], r["runs"], r["saved_runs"]) for r in rows] == [("arm0", 3, 3),
                                                                      ("arm1", 2, 3)]
