"""`regseg demo` (the README's main job) end to end, and its idempotence.

Real subprocesses all the way: the CLI, a local worker with CPU slots, one training job per run,
the SQLite queue and the SQLite MLflow store under the demo directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REGSEG = str(Path(sys.executable).parent / "regseg")


def _demo(out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REGSEG_HOME", "REGSEG_DB")}
    proc = subprocess.run([REGSEG, "demo", "--out", str(out), "--format", "json"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, _demo(out)


def test_demo_trains_every_smoke_run(demo):
    out, summary = demo
    assert summary["runs"] == 8 and summary["succeeded"] == 8 and summary["failed"] == 0
    assert summary["new"] == 8


def test_demo_report_has_one_row_per_configuration_with_mean_std_over_two_seeds(demo):
    out, summary = demo
    text = Path(summary["report"]).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| model_name=")]
    assert len(rows) == 4, text
    for row in rows:
        assert re.search(r"\d+\.\d\d ± \d+\.\d\d \(n=2\)", row), row


def test_demo_plots_exist(demo):
    out, summary = demo
    names = {Path(p).name for p in summary["plots"]}
    assert {"miou_vs_gflops.png", "miou_vs_params.png", "miou_vs_gflops.svg"} <= names
    for p in summary["plots"]:
        assert Path(p).stat().st_size > 1000


def test_demo_runs_are_complete_in_mlflow(demo):
    from mlflow.tracking import MlflowClient

    out, summary = demo
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    exp = client.get_experiment_by_name("regseg/smoke")
    found = client.search_runs([exp.experiment_id])
    arms = [r for r in found if r.data.tags.get("regseg.arm_parent") == "true"]
    runs = [r for r in found if r not in arms]
    assert len(runs) == 8 and len(arms) == 4  # 2 seeds under each of 4 configurations
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {a.info.run_id for a in arms}
    assert {a.info.status for a in arms} == {"FINISHED"}
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "mIoU")]
        assert sorted(steps) == list(range(int(run.data.params["epochs"])))
        assert run.data.metrics["best_mIoU"] > 100 / 19  # clearly above chance on 19 classes


def test_demo_again_retrains_nothing_and_rewrites_the_same_report(demo):
    out, summary = demo
    before = Path(summary["report"]).read_bytes()
    again = _demo(out)
    assert again["new"] == 0 and again["known"] == 8 and again["succeeded"] == 8
    assert Path(again["report"]).read_bytes() == before


def test_demo_keeps_its_queue_and_mlflow_store_under_out(tmp_path, monkeypatch):
    """A user's $REGSEG_DB / $MLFLOW_TRACKING_URI must not pull the demo onto a shared queue
    (its worker would drain every job there) or another store (its report would find nothing)."""
    from regseg.cli import _demo_run as demo_run

    out = tmp_path / "demo"
    monkeypatch.setenv("REGSEG_HOME", str(tmp_path / "home"))  # restored after the test
    monkeypatch.setenv("REGSEG_DB", f"sqlite:///{tmp_path / 'shared_queue.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    seen = {}
    monkeypatch.setattr(demo_run, "_dataset", lambda out, opts: out / "data" / "synthetic")
    monkeypatch.setattr(demo_run, "_drain", lambda store, *a, **k: seen.update(
        db=store.url, mlflow=os.environ.get("MLFLOW_TRACKING_URI")))
    monkeypatch.setattr(demo_run, "_report", lambda out, state: (out / "AblationStudies.md", []))
    demo_run.run_demo(demo_run.DemoOptions(out=out, quiet=True))
    state = out.resolve() / ".regseg"
    assert seen == {"db": f"sqlite:///{state / 'queue.db'}",
                    "mlflow": f"sqlite:///{state / 'mlflow.db'}"}
    assert not (tmp_path / "shared_queue.db").exists()
